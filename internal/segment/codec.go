package segment

import (
	"sync"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// pageCodec is zstd for Parquet pages with a window the size of a page
// (1 MiB) rather than the encoder's default, which holds 8 MiB of history
// per encoder for pages that never need it. Encoders and decoders are
// pooled across segments.
type pageCodec struct {
	enc sync.Pool
	dec sync.Pool
	// chunks pools the column chunk encoders (their page buffers) of the
	// layouts that share this codec: a segment is a few row groups, so
	// buffers grown for one are reused by the next.
	chunks sync.Pool
}

func newPageCodec() *pageCodec {
	c := &pageCodec{}
	c.enc.New = func() any {
		e, err := kzstd.NewWriter(nil, kzstd.WithEncoderLevel(kzstd.SpeedFastest), kzstd.WithEncoderConcurrency(1),
			kzstd.WithWindowSize(1<<20), kzstd.WithZeroFrames(true), kzstd.WithEncoderCRC(false), kzstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err) // only for invalid options, fixed here
		}
		return e
	}
	c.dec.New = func() any {
		d, err := kzstd.NewReader(nil, kzstd.WithDecoderConcurrency(1), kzstd.WithDecoderLowmem(true))
		if err != nil {
			panic(err)
		}
		return d
	}
	return c
}

func (c *pageCodec) String() string { return "ZSTD" }

func (c *pageCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *pageCodec) Encode(dst, src []byte) ([]byte, error) {
	e := c.enc.Get().(*kzstd.Encoder)
	defer c.enc.Put(e)
	return e.EncodeAll(src, dst[:0]), nil
}

func (c *pageCodec) Decode(dst, src []byte) ([]byte, error) {
	d := c.dec.Get().(*kzstd.Decoder)
	defer c.dec.Put(d)
	return d.DecodeAll(src, dst[:0])
}
