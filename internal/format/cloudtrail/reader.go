// Package cloudtrail decodes CloudTrail log objects as AWS delivers them to
// S3 ({"Records":[...]}, usually gzip) record by record, so memory stays
// bounded by the largest single record, not the object; and normalizes each
// record to Interflow.
package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/format/jsonstream"
)

// SkipReason reports why an object is not a log object, or "" if it is one.
// Digest files and the write check CloudTrail drops when a trail is created
// carry no events.
func SkipReason(key string) string {
	switch {
	case strings.Contains(key, "/CloudTrail-Digest/") || strings.Contains(key, "_CloudTrail-Digest_"):
		return "CloudTrail digest file (integrity validation, no events)"
	case strings.Contains(key, "ConfigWritabilityCheckFile"):
		return "ConfigWritabilityCheckFile (CloudTrail's bucket write check, no events)"
	}
	if svc := serviceFolder(key); svc != "" && !strings.HasPrefix(svc, "CloudTrail") {
		return "an object of another AWS service (" + svc + ") in the same bucket"
	}
	return ""
}

// serviceFolder returns the folder after the account ID in an AWSLogs key
// (CloudTrail, CloudTrail-Insight, vpcflowlogs, elasticloadbalancing, ...).
func serviceFolder(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p != "AWSLogs" {
			continue
		}
		for j := i + 1; j+1 < len(parts); j++ {
			if strings.HasPrefix(parts[j], "o-") {
				continue
			}
			if len(parts[j]) == 12 && strings.Trim(parts[j], "0123456789") == "" {
				if j+2 < len(parts) {
					return parts[j+1]
				}
			}
			return ""
		}
	}
	return ""
}

// Reader yields the raw JSON of each record in an object. It accepts the S3
// layout {"Records":[...]}, a bare array of records (exports), records one
// after another (JSON lines), and CloudWatch Logs subscription envelopes.
// Only one record is held at a time.
type Reader struct {
	sc      *jsonstream.Scanner
	inArray bool // inside a Records array or a top-level array
	first   bool // no element of the current array read yet
	inObj   bool // inside a {"Records":...} wrapper, after the array
	queue   [][]byte
	err     error
	// Skipped is set when an object held no events by design (a digest).
	Skipped string
}

// NewReader reads decompressed CloudTrail JSON from r.
func NewReader(r io.Reader) *Reader { return &Reader{sc: jsonstream.New(r)} }

// Offset is the decompressed byte offset reached.
func (r *Reader) Offset() int64 { return r.sc.Offset() }

// Next returns the next record's JSON, valid until the following call. It
// returns io.EOF at the end, a *format.ObjectError when the rest of the
// object cannot be read, or the store's read error unchanged (so the object
// is retried, not quarantined).
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	b, err := r.next()
	if err != nil {
		var se *jsonstream.SyntaxError
		switch {
		case errors.As(err, &se):
			err = &format.ObjectError{Offset: r.sc.Offset(), Reason: "invalid CloudTrail JSON: " + se.Msg}
		case errors.Is(err, jsonstream.ErrTruncated):
			err = &format.ObjectError{Offset: r.sc.Offset(), Reason: "CloudTrail JSON ends in the middle of a value (truncated object)"}
		}
		r.err = err
	}
	return b, err
}

func (r *Reader) next() ([]byte, error) {
	for {
		if len(r.queue) > 0 {
			b := r.queue[0]
			r.queue = r.queue[1:]
			return b, nil
		}
		if r.inArray {
			c, err := r.sc.Peek()
			if err != nil {
				return nil, truncEOF(err)
			}
			if c == ']' {
				_ = r.sc.Expect(']')
				r.inArray = false
				continue
			}
			if !r.first {
				if err := r.sc.Expect(','); err != nil {
					return nil, err
				}
			}
			r.first = false
			return r.sc.Value()
		}
		if r.inObj {
			if err := r.restOfWrapper(); err != nil {
				return nil, err
			}
			r.inObj = false
			continue
		}
		c, err := r.sc.Peek()
		if err != nil {
			return nil, err // io.EOF at a clean end
		}
		switch c {
		case '[':
			_ = r.sc.Expect('[')
			r.inArray, r.first = true, true
		case '{':
			rec, err := r.topObject()
			if err != nil || rec != nil {
				return rec, err
			}
		default:
			return nil, &jsonstream.SyntaxError{Offset: r.sc.Offset(), Msg: fmt.Sprintf("expected a JSON object or array at the top level, found %q", c)}
		}
	}
}

func truncEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return jsonstream.ErrTruncated
	}
	return err
}

// topObject reads a top-level object. If its first key is Records it is the
// S3 wrapper and streaming continues inside the array; otherwise the object
// is small (a digest, an envelope or one record) and is read whole.
func (r *Reader) topObject() ([]byte, error) {
	if err := r.sc.Expect('{'); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	var seen topSeen
	for first := true; ; first = false {
		key, done, err := r.nextKey(first)
		if err != nil || done {
			if err != nil {
				return nil, err
			}
			break
		}
		if first && key == "Records" {
			if streaming, err := r.startRecords(); err != nil || streaming {
				return nil, err
			}
		}
		v, err := r.sc.Value()
		if err != nil {
			return nil, err
		}
		if err := r.topMember(key, v, &seen); err != nil {
			return nil, err
		}
		if !first {
			buf.WriteByte(',')
		}
		buf.WriteByte('"')
		buf.WriteString(key)
		buf.WriteString(`":`)
		buf.Write(v)
	}
	buf.WriteByte('}')
	switch {
	case seen.records:
		return nil, nil
	case seen.digest:
		r.Skipped = "CloudTrail digest file (no events)"
		return nil, nil
	}
	// Anything else is taken as one record: if it is not a usable
	// CloudTrail record the normalizer quarantines it alone, and the
	// objects after it are still read.
	return buf.Bytes(), nil
}

// topSeen is what the members of a top-level object said it is.
type topSeen struct{ records, digest bool }

// nextKey reads the next member's key of a top-level object, and done at
// its closing brace.
func (r *Reader) nextKey(first bool) (key string, done bool, err error) {
	c, err := r.sc.Peek()
	if err != nil {
		return "", false, truncEOF(err)
	}
	if c == '}' {
		_ = r.sc.Expect('}')
		return "", true, nil
	}
	if !first {
		if err := r.sc.Expect(','); err != nil {
			return "", false, err
		}
	}
	if key, err = r.sc.String(); err != nil {
		return "", false, err
	}
	return key, false, r.sc.Expect(':')
}

// startRecords enters a Records array that opens the object, CloudTrail's
// own layout, so its records stream one at a time.
func (r *Reader) startRecords() (bool, error) {
	c, err := r.sc.Peek()
	if err != nil {
		return false, truncEOF(err)
	}
	if c != '[' {
		return false, nil
	}
	_ = r.sc.Expect('[')
	r.inArray, r.first, r.inObj = true, true, true
	return true, nil
}

// topMember queues the records a member holds (a late Records array, a
// CloudWatch Logs envelope) and notes a digest's members.
func (r *Reader) topMember(key string, v []byte, seen *topSeen) error {
	switch key {
	case "Records":
		// Records after other keys is not CloudTrail's own layout, so
		// it cannot be streamed; it is read whole and queued.
		var recs []json.RawMessage
		if json.Unmarshal(v, &recs) != nil && string(v) != "null" {
			return &jsonstream.SyntaxError{Offset: r.sc.Offset(), Msg: "the Records value is not an array"}
		}
		for _, rc := range recs {
			r.queue = append(r.queue, rc)
		}
		seen.records = true
	case "logEvents":
		// A CloudWatch Logs subscription envelope (delivered to S3 by
		// Firehose): each logEvents[].message is one record.
		var evs []struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(v, &evs) != nil {
			return &jsonstream.SyntaxError{Offset: r.sc.Offset(), Msg: "logEvents is not an array of {message}"}
		}
		for _, e := range evs {
			r.queue = append(r.queue, []byte(e.Message))
		}
		seen.records = true
	case "digestStartTime", "digestEndTime", "logFiles":
		seen.digest = true
	}
	return nil
}

// restOfWrapper skips what follows the Records array in the S3 wrapper.
func (r *Reader) restOfWrapper() error {
	for {
		c, err := r.sc.Peek()
		if err != nil {
			return truncEOF(err)
		}
		switch c {
		case '}':
			return r.sc.Expect('}')
		case ',':
			_ = r.sc.Expect(',')
			if _, err := r.sc.String(); err != nil {
				return err
			}
			if err := r.sc.Expect(':'); err != nil {
				return err
			}
			if _, err := r.sc.Value(); err != nil {
				return err
			}
		default:
			return &jsonstream.SyntaxError{Offset: r.sc.Offset(), Msg: fmt.Sprintf("unexpected %q after the Records array", c)}
		}
	}
}
