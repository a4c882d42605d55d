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
// layout {"Records":[...]}, a bare array of records (exports), and records
// one after another (JSON lines).
type Reader struct {
	dec      *json.Decoder
	inArray  bool // inside a Records array or a top-level array
	inObject bool // inside a {"Records":...} wrapper
	queue    [][]byte
	err      error
	// Skipped is set when an object held no events by design (a digest).
	Skipped string
}

// NewReader reads decompressed CloudTrail JSON from r.
func NewReader(r io.Reader) *Reader {
	d := json.NewDecoder(r)
	d.UseNumber()
	return &Reader{dec: d}
}

// Offset is the decompressed byte offset reached.
func (r *Reader) Offset() int64 { return r.dec.InputOffset() }

// Next returns the next record's JSON. It returns io.EOF at the end, or a
// *format.ObjectError when the rest of the object cannot be read.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	b, err := r.next()
	if err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			err = &format.ObjectError{Offset: r.dec.InputOffset(), Reason: "invalid CloudTrail JSON", Err: err}
		case errors.Is(err, io.ErrUnexpectedEOF):
			err = &format.ObjectError{Offset: r.dec.InputOffset(), Reason: "CloudTrail JSON ends in the middle of a value (truncated object)", Err: err}
		}
		// Anything else (a read error from the store) passes through so
		// the object is retried, not quarantined.
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
			if r.dec.More() {
				var raw json.RawMessage
				if err := r.dec.Decode(&raw); err != nil {
					return nil, err
				}
				return raw, nil
			}
			if _, err := r.dec.Token(); err != nil { // ']'
				return nil, err
			}
			r.inArray = false
			continue
		}
		if r.inObject {
			if !r.dec.More() {
				if _, err := r.dec.Token(); err != nil { // '}'
					return nil, err
				}
				r.inObject = false
				continue
			}
			tok, err := r.dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := tok.(string)
			if key == "Records" {
				if err := r.openArray("the Records value"); err != nil {
					return nil, err
				}
				continue
			}
			var skip json.RawMessage
			if err := r.dec.Decode(&skip); err != nil {
				return nil, err
			}
			continue
		}
		tok, err := r.dec.Token()
		if err != nil {
			return nil, err // io.EOF at a clean end
		}
		switch tok {
		case json.Delim('['):
			r.inArray = true
		case json.Delim('{'):
			rec, isWrapper, err := r.topObject()
			if err != nil {
				return nil, err
			}
			if isWrapper {
				r.inObject = true
				continue
			}
			if rec != nil {
				return rec, nil
			}
		default:
			return nil, &format.ObjectError{Offset: r.dec.InputOffset(), Reason: fmt.Sprintf("expected a JSON object or array at the top level, found %v", tok)}
		}
	}
}

func (r *Reader) openArray(what string) error {
	tok, err := r.dec.Token()
	if err != nil {
		return err
	}
	if tok == nil { // "Records": null
		return nil
	}
	if tok != json.Delim('[') {
		return &format.ObjectError{Offset: r.dec.InputOffset(), Reason: fmt.Sprintf("%s is not an array", what)}
	}
	r.inArray = true
	return nil
}

// topObject reads a top-level object after its '{'. If its first key is
// Records it is the S3 wrapper and streaming continues inside it; otherwise
// it is read whole (digests and single records are small) and returned as a
// record, or nil for a digest.
func (r *Reader) topObject() (rec []byte, isWrapper bool, err error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	isRecord, isDigest, hadRecords := false, false, false
	for r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return nil, false, err
		}
		key, _ := tok.(string)
		if first && key == "Records" {
			if err := r.openArray("the Records value"); err != nil {
				return nil, false, err
			}
			return nil, true, nil
		}
		var v json.RawMessage
		if err := r.dec.Decode(&v); err != nil {
			return nil, false, err
		}
		switch key {
		case "Records":
			// Records after other keys is not CloudTrail's own layout, so
			// it cannot be streamed; it is read whole and queued.
			var recs []json.RawMessage
			if err := json.Unmarshal(v, &recs); err != nil {
				return nil, false, &format.ObjectError{Offset: r.dec.InputOffset(), Reason: "the Records value is not an array"}
			}
			for _, rc := range recs {
				r.queue = append(r.queue, rc)
			}
			hadRecords = true
			continue
		case "logEvents":
			// A CloudWatch Logs subscription envelope (delivered to S3 by
			// Firehose): each logEvents[].message is one record.
			var evs []struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal(v, &evs); err != nil {
				return nil, false, &format.ObjectError{Offset: r.dec.InputOffset(), Reason: "logEvents is not an array of {message}"}
			}
			for _, e := range evs {
				r.queue = append(r.queue, []byte(e.Message))
			}
			hadRecords = true
			continue
		case "eventTime", "eventName", "eventVersion", "eventSource":
			isRecord = true
		case "digestStartTime", "digestEndTime", "logFiles":
			isDigest = true
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(key)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	if _, err := r.dec.Token(); err != nil { // '}'
		return nil, false, err
	}
	buf.WriteByte('}')
	switch {
	case hadRecords:
		return nil, false, nil
	case isDigest && !isRecord:
		r.Skipped = "CloudTrail digest file (no events)"
		return nil, false, nil
	}
	// Anything else is taken as one record: if it is not a usable
	// CloudTrail record the normalizer quarantines it alone, and the
	// objects after it are still read.
	return buf.Bytes(), false, nil
}
