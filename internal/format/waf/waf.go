// Package waf decodes AWS WAF logs as delivered to S3: one JSON document
// per line (gzip or plain text), or documents concatenated with no newline
// between them, and normalizes each to Interflow.
package waf

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/format/jsonstream"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/prefix"
)

// Decoder reads WAF records from one object.
type Decoder struct {
	sc     *jsonstream.Scanner
	p      fastjson.Parser
	acct   string
	region string
	err    error
}

// NewDecoder returns a decoder over a decompressed object; the key gives the
// account and region (AWSLogs/<acct>/WAFLogs/<region>/<webacl>/...).
func NewDecoder(r io.Reader, key string) *Decoder {
	d := &Decoder{sc: jsonstream.New(r), acct: prefix.Account(key)}
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "WAFLogs" && i+1 < len(parts) {
			d.region = parts[i+1]
		}
	}
	return d
}

// Offset is the decompressed byte offset reached.
func (d *Decoder) Offset() int64 { return d.sc.Offset() }

// Next returns the next JSON document.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	c, err := d.sc.Peek()
	if err == nil && c != '{' {
		err = &format.ObjectError{Offset: d.sc.Offset(), Reason: fmt.Sprintf("expected a JSON object (one WAF log record), found %q", c)}
	}
	var v []byte
	if err == nil {
		v, err = d.sc.Value()
	}
	if err != nil {
		if se, ok := err.(*jsonstream.SyntaxError); ok {
			err = &format.ObjectError{Offset: d.sc.Offset(), Reason: "invalid WAF log JSON: " + se.Msg}
		} else if err == jsonstream.ErrTruncated {
			err = &format.ObjectError{Offset: d.sc.Offset(), Reason: "WAF log JSON ends in the middle of a record (truncated object)"}
		}
		d.err = err
		return nil, err
	}
	return v, nil
}

func str(v *fastjson.Value, keys ...string) string { return format.JSONText(v.Get(keys...)) }

// Normalize fills rec (an aws_events record stamped with its provenance)
// from one WAF log record.
func (d *Decoder) Normalize(raw []byte, rec *interflow.Record) error {
	v, err := format.ParseObject(&d.p, raw)
	if err != nil {
		return err
	}
	tsv := str(v, "timestamp")
	if tsv == "" {
		return &format.RecordError{Reason: "timestamp is missing: every WAF log record has one (epoch milliseconds)", Raw: raw}
	}
	ms, err := strconv.ParseInt(strings.SplitN(tsv, ".", 2)[0], 10, 64)
	if err != nil || ms < 0 {
		t, terr := format.ParseTime(tsv)
		if terr != nil {
			return &format.RecordError{Reason: fmt.Sprintf("timestamp %q is not epoch milliseconds", tsv), Raw: raw}
		}
		ms = t.UnixMilli()
	}
	rec.SetTime(interflow.FTimestamp, time.UnixMilli(ms).UTC())
	rec.SetString(interflow.FRaw, string(raw))
	rec.SetString(interflow.FAction, strings.ToUpper(str(v, "action")))
	acl := str(v, "webaclId")
	rec.SetString(interflow.EWebACL, acl)
	rec.SetString(interflow.ERuleID, str(v, "terminatingRuleId"))
	rec.SetString(interflow.ERuleType, str(v, "terminatingRuleType"))
	rec.SetString(interflow.EHTTPSource, str(v, "httpSourceName"))
	rec.SetString(interflow.EHTTPSourceID, str(v, "httpSourceId"))
	rec.SetString(interflow.EJA3, str(v, "ja3Fingerprint"))
	rec.SetString(interflow.EJA4, str(v, "ja4Fingerprint"))
	if rc := str(v, "responseCodeSent"); rc != "" {
		if n, err := strconv.ParseInt(rc, 10, 64); err == nil {
			rec.SetInt(interflow.EResponseCode, n)
		}
	}
	if hr := v.Get("httpRequest"); hr != nil {
		httpRequest(hr, rec)
	}
	var labels []string
	for _, l := range v.GetArray("labels") {
		if n := str(l, "name"); n != "" {
			labels = append(labels, n)
		}
	}
	rec.SetList(interflow.ELabels, labels)

	acct, region := d.origin(acl)
	rec.SetString(interflow.FAccountID, acct)
	rec.SetString(interflow.FRegion, region)
	return nil
}

// httpRequest fills the request's fields from httpRequest.
func httpRequest(hr *fastjson.Value, rec *interflow.Record) {
	if ip, ok := format.NormalizeIP(str(hr, "clientIp")); ok {
		rec.SetString(interflow.FSrcIP, ip)
	}
	rec.SetString(interflow.EHTTPCountry, str(hr, "country"))
	rec.SetString(interflow.EHTTPMethod, str(hr, "httpMethod"))
	rec.SetString(interflow.EHTTPURI, str(hr, "uri"))
	rec.SetString(interflow.EHTTPArgs, str(hr, "args"))
	rec.SetString(interflow.EHTTPVersion, str(hr, "httpVersion"))
	rec.SetString(interflow.ERequestID, str(hr, "requestId"))
	hostSet := false
	for _, h := range hr.GetArray("headers") {
		name := str(h, "name")
		switch {
		case strings.EqualFold(name, "host") || name == ":authority":
			rec.SetString(interflow.EHTTPHost, str(h, "value"))
			hostSet = true
		case strings.EqualFold(name, "user-agent"):
			rec.SetString(interflow.EUserAgent, str(h, "value"))
		}
	}
	if !hostSet {
		// No Host header (HTTP/2 may omit it): newer logs carry the
		// host WAF saw in httpRequest.host.
		rec.SetString(interflow.EHTTPHost, str(hr, "host"))
	}
}

// origin is the record's account and region: the connector's prefix's
// when it names them, else the web ACL's ARN's.
func (d *Decoder) origin(acl string) (acct, region string) {
	acct, region = d.acct, d.region
	// arn:aws:wafv2:us-east-1:123456789012:regional/webacl/name/id
	if parts := strings.Split(acl, ":"); len(parts) >= 6 && parts[0] == "arn" {
		if region == "" {
			region = parts[3]
		}
		if acct == "" {
			acct = parts[4]
		}
		if region == "" && strings.HasPrefix(parts[5], "global/") {
			region = "global"
		}
	}
	return acct, region
}
