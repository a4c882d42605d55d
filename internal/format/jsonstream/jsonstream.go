// Package jsonstream splits a JSON byte stream into values without building
// them: it tracks only nesting and strings, so it runs near memory speed and
// holds one value at a time. Full validation is left to whoever parses each
// value (the normalizers), so one malformed record is quarantined alone.
package jsonstream

import (
	"bufio"
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
func (s *Scanner) composite() ([]byte, error) {
	depth := 0
	inStr, esc := false, false
	for {
		if s.r.Buffered() == 0 {
			if _, err := s.r.Peek(1); err != nil {
				return nil, truncated(err)
			}
		}
		chunk, _ := s.r.Peek(s.r.Buffered())
		for i, c := range chunk {
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.buf = append(s.buf, chunk[:i+1]...)
					_, _ = s.r.Discard(i + 1)
					s.off += int64(i + 1)
					return s.buf, nil
				}
			}
		}
		s.buf = append(s.buf, chunk...)
		_, _ = s.r.Discard(len(chunk))
		s.off += int64(len(chunk))
		if s.MaxValue > 0 && len(s.buf) > s.MaxValue {
			return nil, &SyntaxError{Offset: s.off, Msg: fmt.Sprintf("a single JSON value is larger than %d bytes", s.MaxValue)}
		}
	}
}
