package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"github.com/trawlhq/trawl/internal/query"
)

// A token filter says, for each row group of a segment, which words its
// records' raw text may hold: a split-block Bloom filter (the layout
// Parquet uses) of query.Words. A free-text search reads only the row
// groups whose filter holds every word of its needle, so a rare word skips
// nearly all of the lake. Filters live beside their segment in a small
// file of their own (<segment>.tokens), immutable like it.

const tokensMagic = "TRAWLTF1"

// blockFilter is one row group's split-block Bloom filter: blocks of eight
// 32-bit words; each key sets one bit in each word of one block.
type blockFilter []uint32

var salt = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

func newBlockFilter(keys int, bitsPerKey int) blockFilter {
	blocks := (keys*bitsPerKey + 255) / 256
	if blocks < 1 {
		blocks = 1
	}
	return make(blockFilter, blocks*8)
}

func (f blockFilter) block(h uint64) blockFilter {
	n := uint64(len(f) / 8)
	i := ((h >> 32) * n) >> 32
	return f[i*8 : i*8+8]
}

func (f blockFilter) add(h uint64) {
	b := f.block(h)
	x := uint32(h)
	for i := range b {
		b[i] |= 1 << ((x * salt[i]) >> 27)
	}
}

func (f blockFilter) has(h uint64) bool {
	b := f.block(h)
	x := uint32(h)
	for i := range b {
		if b[i]&(1<<((x*salt[i])>>27)) == 0 {
			return false
		}
	}
	return true
}

// wordHash hashes a lower-case word: FNV-1a, which the indexer computes
// in the same pass that finds the word's bytes, then a finalizer that
// spreads FNV's weak high bits (the filter picks a block with them).
func wordHash(w string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(w); i++ {
		h = (h ^ uint64(w[i])) * fnvPrime
	}
	return mix(h)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix is MurmurHash3's 64-bit finalizer.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// tokenFilters are the filters of one segment, one per row group.
type tokenFilters []blockFilter

// mayHold reports whether row group rg may hold every word.
func (t tokenFilters) mayHold(rg int, words []uint64) bool {
	if rg >= len(t) {
		return true
	}
	for _, h := range words {
		if !t[rg].has(h) {
			return false
		}
	}
	return true
}

func (t tokenFilters) size() int64 {
	var n int64
	for _, f := range t {
		n += int64(len(f)) * 4
	}
	return n + 16
}

// writeTo writes the filters: magic, row group count, each filter's length
// in words, then the words, little-endian.
func (t tokenFilters) writeTo(w io.Writer) error {
	hdr := make([]byte, 0, 12+4*len(t))
	hdr = append(hdr, tokensMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(t)))
	for _, f := range t {
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(f)))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	var buf []byte
	for _, f := range t {
		buf = buf[:0]
		for _, x := range f {
			buf = binary.LittleEndian.AppendUint32(buf, x)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// readTokenFilters reads a segment's filters.
func readTokenFilters(path string) (tokenFilters, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 12 || string(b[:8]) != tokensMagic {
		return nil, fmt.Errorf("token filter %s: not a token filter file", path)
	}
	n := int(binary.LittleEndian.Uint32(b[8:12]))
	off := 12 + 4*n
	if n < 0 || off > len(b) {
		return nil, fmt.Errorf("token filter %s: truncated header", path)
	}
	// The words are read in place (no copy) where the machine is
	// little-endian and the buffer aligned, as on every supported one.
	inPlace := nativeLittleEndian() && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 && off%4 == 0
	t := make(tokenFilters, n)
	for i := range t {
		words := int(binary.LittleEndian.Uint32(b[12+4*i:]))
		if off+4*words > len(b) || words%8 != 0 || words == 0 {
			return nil, errors.New("token filter " + path + ": truncated")
		}
		if inPlace {
			t[i] = unsafe.Slice((*uint32)(unsafe.Pointer(&b[off])), words)
		} else {
			f := make(blockFilter, words)
			for j := range f {
				f[j] = binary.LittleEndian.Uint32(b[off+4*j:])
			}
			t[i] = f
		}
		off += 4 * words
	}
	return t, nil
}

// tokenBuilder fills one row group's filter from raw texts. recent
// remembers the last hash seen in each of 4,096 slots: the words every
// record repeats (JSON keys, service names) are then added once, not once
// per record, sparing the filter's memory most writes.
type tokenBuilder struct {
	f      blockFilter
	recent [4096]uint64
}

func (tb *tokenBuilder) add(h uint64) {
	slot := &tb.recent[h&4095]
	if *slot == h {
		return
	}
	*slot = h
	tb.f.add(h)
}

func newTokenBuilder(rows, bitsPerRow int) *tokenBuilder {
	return &tokenBuilder{f: newBlockFilter(rows, bitsPerRow)}
}

// wordByte marks the ASCII bytes that are word characters.
var wordByte = func() (t [256]bool) {
	for c := 0; c < 128; c++ {
		t[c] = query.IsWordRune(rune(c))
	}
	return t
}()

// text adds the words of one record's raw text. ASCII text (nearly all of
// AWS's) is hashed in one pass, lower-casing as it goes, with no copy;
// other text goes through query.Words, which defines a word.
func (tb *tokenBuilder) text(s []byte) {
	for _, c := range s {
		if c >= 0x80 {
			query.Words(string(s), func(w string) { tb.add(wordHash(w)) })
			return
		}
	}
	h, in := uint64(fnvOffset), false
	for _, c := range s {
		if wordByte[c] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			h = (h ^ uint64(c)) * fnvPrime
			in = true
			continue
		}
		if in {
			tb.add(mix(h))
			h, in = fnvOffset, false
		}
	}
	if in {
		tb.add(mix(h))
	}
}

func nativeLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}
