// Package jsonstream splits a JSON byte stream into values without building
// them: it tracks only nesting and strings, so it runs near memory speed and
// holds one value at a time. Full validation is left to whoever parses each
// value (the normalizers), so one malformed record is quarantined alone.
package jsonstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// SyntaxError is a structural error at a byte offset.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset) }

// ErrTruncated means the stream ended inside a value.
var ErrTruncated = errors.New("the JSON ends in the middle of a value (truncated)")

// Scanner reads JSON values and punctuation from a stream.
type Scanner struct {
	r   *bufio.Reader
	off int64
	buf []byte
	// MaxValue caps one value's size, so a stream with no structure cannot
	// grow memory without bound.
	MaxValue int
}

// New returns a Scanner over r.
func New(r io.Reader) *Scanner {
	return &Scanner{r: bufio.NewReaderSize(r, 64<<10), MaxValue: 256 << 20}
}

// Offset is the number of bytes consumed.
func (s *Scanner) Offset() int64 { return s.off }

func (s *Scanner) readByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err == nil {
		s.off++
	}
	return c, err
}

// Peek returns the next non-space byte without consuming it; io.EOF at the
// end of the stream.
func (s *Scanner) Peek() (byte, error) {
	for {
		b, err := s.r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			_, _ = s.r.Discard(1)
			s.off++
			continue
		}
		return b[0], nil
	}
}

// Expect consumes the next non-space byte, which must be c.
func (s *Scanner) Expect(c byte) error {
	got, err := s.Peek()
	if err != nil {
		return truncated(err)
	}
	if got != c {
		return &SyntaxError{Offset: s.off, Msg: fmt.Sprintf("expected %q, found %q", c, got)}
	}
	_, _ = s.readByte()
	return nil
}

// String reads a JSON string and returns its raw contents (escapes kept).
func (s *Scanner) String() (string, error) {
	if err := s.Expect('"'); err != nil {
		return "", err
	}
	s.buf = s.buf[:0]
	for {
		c, err := s.readByte()
		if err != nil {
			return "", truncated(err)
		}
		if c == '"' {
			return string(s.buf), nil
		}
		s.buf = append(s.buf, c)
		if c == '\\' {
			c, err = s.readByte()
			if err != nil {
				return "", truncated(err)
			}
			s.buf = append(s.buf, c)
		}
	}
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return ErrTruncated
	}
	return err
}

// Value reads one complete JSON value and returns its bytes. The slice is
// only valid until the next call.
func (s *Scanner) Value() ([]byte, error) {
	first, err := s.Peek()
	if err != nil {
		return nil, err
	}
	s.buf = s.buf[:0]
	switch first {
	case '{', '[':
		return s.composite()
	case '"':
		_, _ = s.readByte()
		s.buf = append(s.buf, '"')
		for {
			c, err := s.readByte()
			if err != nil {
				return nil, truncated(err)
			}
			s.buf = append(s.buf, c)
			if c == '\\' {
				c, err = s.readByte()
				if err != nil {
					return nil, truncated(err)
				}
				s.buf = append(s.buf, c)
				continue
			}
			if c == '"' {
				return s.buf, nil
			}
		}
	}
	// A number or literal runs up to a delimiter.
	for {
		b, err := s.r.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) && len(s.buf) > 0 {
				return s.buf, nil
			}
			return nil, truncated(err)
		}
		c := b[0]
		if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			if len(s.buf) == 0 {
				return nil, &SyntaxError{Offset: s.off, Msg: fmt.Sprintf("unexpected %q", c)}
			}
			return s.buf, nil
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E') {
			return nil, &SyntaxError{Offset: s.off, Msg: fmt.Sprintf("invalid character %q", c)}
		}
		_, _ = s.readByte()
		s.buf = append(s.buf, c)
	}
}

// composite copies an object or array, scanning whole buffered chunks.
// Inside a string it jumps from quote to quote (bytes.IndexByte, which is
// vectorised): log records are mostly string contents, and a byte-by-byte
// loop over them was 18% of WAF ingest.
func (s *Scanner) composite() ([]byte, error) {
	st := scanState{}
	for {
		if s.r.Buffered() == 0 {
			if _, err := s.r.Peek(1); err != nil {
				return nil, truncated(err)
			}
		}
		chunk, _ := s.r.Peek(s.r.Buffered())
		if end := st.scan(chunk); end >= 0 {
			s.buf = append(s.buf, chunk[:end]...)
			_, _ = s.r.Discard(end)
			s.off += int64(end)
			return s.buf, nil
		}
		s.buf = append(s.buf, chunk...)
		_, _ = s.r.Discard(len(chunk))
		s.off += int64(len(chunk))
		if s.MaxValue > 0 && len(s.buf) > s.MaxValue {
			return nil, &SyntaxError{Offset: s.off, Msg: fmt.Sprintf("a single JSON value is larger than %d bytes", s.MaxValue)}
		}
	}
}

// scanState is where a scan of a composite value stands between chunks.
type scanState struct {
	depth      int
	inStr, esc bool // inside a string; the previous byte was an unpaired backslash
}

// scan advances over chunk and returns the length of the value's end
// within it (just past its closing bracket), or -1 when the value goes on.
func (st *scanState) scan(chunk []byte) int {
	i := 0
	for i < len(chunk) {
		if st.inStr {
			if st.esc { // the byte after a backslash is escaped, a quote too
				st.esc = false
				i++
				continue
			}
			j := bytes.IndexByte(chunk[i:], '"')
			if j < 0 {
				st.esc = oddBackslashes(chunk[i:])
				return -1
			}
			q := i + j
			if oddBackslashes(chunk[i:q]) {
				i = q + 1 // an escaped quote: still in the string
				continue
			}
			st.inStr = false
			i = q + 1
			continue
		}
		switch chunk[i] {
		case '"':
			st.inStr = true
		case '{', '[':
			st.depth++
		case '}', ']':
			st.depth--
			if st.depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// oddBackslashes reports whether b ends with an odd run of backslashes
// (its last one then escapes what follows).
func oddBackslashes(b []byte) bool {
	n := 0
	for k := len(b) - 1; k >= 0 && b[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}
