package format

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Lines reads a decompressed object one line at a time, for formats AWS
// writes a record per line (ALB and S3 server access logs, Route 53
// Resolver query logs, GuardDuty findings exported to S3): a line longer
// than max is kept cut at max (Cut says so, and the decoder quarantines
// it) instead of being buffered whole. Blank lines are skipped; the first
// error ends the reading.
type Lines struct {
	br   *bufio.Reader
	max  int
	line []byte
	cut  bool
	off  int64
	err  error
}

// NewLines reads r, keeping at most max bytes of a line.
func NewLines(r io.Reader, max int) *Lines {
	return &Lines{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Offset is the decompressed byte offset reached.
func (l *Lines) Offset() int64 { return l.off }

// Cut reports whether the last line returned was longer than max.
func (l *Lines) Cut() bool { return l.cut }

// Next returns the next non-blank line, without its line end. The slice
// is valid until the next call.
func (l *Lines) Next() ([]byte, error) {
	for l.err == nil {
		line, err := l.read()
		if err != nil {
			l.err = err
			break
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, nil
		}
	}
	return nil, l.err
}

func (l *Lines) read() ([]byte, error) {
	l.line, l.cut = l.line[:0], false
	for {
		chunk, err := l.br.ReadSlice('\n')
		l.off += int64(len(chunk))
		if room := l.max - len(l.line); len(chunk) <= room {
			l.line = append(l.line, chunk...)
		} else {
			l.line, l.cut = append(l.line, chunk[:room]...), true
		}
		if err == nil {
			return bytes.TrimRight(l.line, "\r\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(l.line) > 0 {
			return bytes.TrimRight(l.line, "\r\n"), nil
		}
		var oe *ObjectError
		if errors.As(err, &oe) && oe.Offset == 0 {
			oe.Offset = l.off // where the decompressed stream broke off
		}
		return nil, err
	}
}
