// Package s3access decodes Amazon S3 server access logs as S3 delivers
// them to the target bucket: uncompressed text objects, one record per
// line, named <prefix>YYYY-MM-DD-HH-MM-SS-<UniqueString> in one flat
// folder or, with date-based partitioning,
// <prefix><SourceAccountId>/<SourceRegion>/<SourceBucket>/YYYY/MM/DD/YYYY-MM-DD-HH-MM-SS-<UniqueString>;
// and normalizes each record to Interflow.
//
// The fields are those of AWS's "Amazon S3 server access log format"
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html),
// space-separated in a fixed order: Bucket Owner, Bucket, Time (in
// brackets, [06/Feb/2019:00:00:38 +0000]), Remote IP, Requester, Request
// ID, Operation, Key, Request-URI (quoted), HTTP status, Error Code, Bytes
// Sent, Object Size, Total Time, Turn-Around Time, Referer (quoted),
// User-Agent (quoted), Version Id, Host Id, Signature Version, Cipher
// Suite, Authentication Type, Host Header, TLS version, Access Point ARN
// and aclRequired. Any field may be "-" for absent. AWS adds fields at the
// end ("we might extend the access log record format by adding new fields
// to the end of each line"): fields after aclRequired are accepted and
// kept in raw. Fields were added over the years, so older records end
// earlier: a record is accepted when it ends anywhere from Signature
// Version on (MinFields).
package s3access

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unsafe"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Class is the records' msg_class.
const Class = "s3access"

// MaxLine caps one line; a longer line is quarantined, not buffered. S3
// limits a request's URL and headers to about 8 KB each; a record holds a
// few of them.
const MaxLine = 256 << 10

// The fields of a record, by position (AWS's order).
const (
	fBucketOwner = iota
	fBucket
	fTime
	fRemoteIP
	fRequester
	fRequestID
	fOperation
	fKey
	fRequestURI
	fHTTPStatus
	fErrorCode
	fBytesSent
	fObjectSize
	fTotalTime
	fTurnAroundTime
	fReferer
	fUserAgent
	fVersionID
	fHostID
	fSignatureVersion
	fCipherSuite
	fAuthType
	fHostHeader
	fTLSVersion
	fAccessPointARN
	fACLRequired
	numFields
)

// MinFields is how many fields a record has at least: Bucket Owner
// through Signature Version. Records S3 wrote before Signature Version,
// Cipher Suite, Authentication Type and Host Header were added (2017 and
// earlier, ending at Version Id or Host Id) are quarantined with the
// field count, not guessed at; every field after Signature Version is
// optional, so records written before TLS version, Access Point ARN or
// aclRequired existed decode.
const MinFields = fSignatureVersion + 1

// names are AWS's names of the fields, for errors.
var names = [numFields]string{"Bucket Owner", "Bucket", "Time", "Remote IP", "Requester", "Request ID", "Operation", "Key",
	"Request-URI", "HTTP status", "Error Code", "Bytes Sent", "Object Size", "Total Time", "Turn-Around Time", "Referer",
	"User-Agent", "Version Id", "Host Id", "Signature Version", "Cipher Suite", "Authentication Type", "Host Header",
	"TLS version", "Access Point ARN", "aclRequired"}

// quoted are the fields AWS writes in double quotes (an absent one may be
// a bare -).
const quoted = 1<<fRequestURI | 1<<fReferer | 1<<fUserAgent

// texts are the text fields mapped as they are. The values of most repeat
// from record to record (one bucket, a few requesters and endpoints) and
// are kept as one string each (see setText).
var texts = [...]struct{ pos, field int }{
	{fBucketOwner, interflow.ES3BucketOwner}, {fBucket, interflow.ES3Bucket}, {fRequester, interflow.ES3Requester},
	{fOperation, interflow.ES3Operation}, {fErrorCode, interflow.EErrorCode}, {fUserAgent, interflow.EUserAgent},
	{fSignatureVersion, interflow.ES3SignatureVersion}, {fCipherSuite, interflow.ETLSCipher}, {fAuthType, interflow.ES3AuthType},
	{fHostHeader, interflow.EHTTPHost}, {fTLSVersion, interflow.ETLSProtocol}, {fAccessPointARN, interflow.ES3AccessPointARN},
	{fReferer, interflow.EHTTPReferer},
}

// unique are the text fields whose values differ in every record: they
// point into the line.
var unique = [...]struct{ pos, field int }{
	{fRequestID, interflow.ERequestID}, {fKey, interflow.ES3Key}, {fVersionID, interflow.ES3VersionID}, {fHostID, interflow.ES3HostID},
}

// numbers are the numeric fields; "-" leaves them absent, except Bytes
// Sent, which AWS writes as "-" when it is zero.
var numbers = [...]struct{ pos, field int }{
	{fHTTPStatus, interflow.EResponseCode}, {fBytesSent, interflow.EBytesOut}, {fObjectSize, interflow.ES3ObjectSize},
	{fTotalTime, interflow.ES3TotalTime}, {fTurnAroundTime, interflow.ES3TurnAroundTime},
}

// Decoder reads server access log records from one object.
type Decoder struct {
	*format.Lines
	fields  [][]byte
	starts  []int  // each field's byte position in the line
	quoted  uint64 // which fields were in double quotes
	acct    string // from a date-partitioned key
	region  string // from a date-partitioned key
	texts   [len(texts)]format.Repeated
	host    string // the last Host Header seen and its region
	hostReg string
	ipBuf   []byte
}

// NewDecoder returns a decoder over a decompressed object. A
// date-partitioned key gives the source account and region.
func NewDecoder(r io.Reader, key string) *Decoder {
	d := &Decoder{Lines: format.NewLines(r, MaxLine)}
	d.acct, d.region = KeyAccountRegion(key)
	return d
}

// partitioned matches the date-partitioned key format's tail:
// <SourceAccountId>/<SourceRegion>/<SourceBucket>/YYYY/MM/DD/<name>.
var partitioned = regexp.MustCompile(`(?:^|/)([0-9]{12})/([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9])/[^/]+/[0-9]{4}/[0-9]{2}/[0-9]{2}/[^/]+$`)

// KeyAccountRegion reads the source account and region of a
// date-partitioned log object's key, or "" for a flat one.
func KeyAccountRegion(key string) (acct, region string) {
	m := partitioned.FindStringSubmatch(key)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// SkipReason reports objects under a server access log prefix that hold
// no records: folder markers. Every other object is read, whatever its
// name (S3 names its own by time; copies and exports keep theirs).
func SkipReason(key string) string {
	if strings.HasSuffix(key, "/") {
		return "a folder marker"
	}
	return ""
}

// split splits a line into its fields: runs of spaces apart, the Time in
// square brackets (it holds a space), a field in double quotes up to a
// quote that a space or the line's end follows (a User-Agent may hold a
// quote of its own). It records which fields were quoted and where each
// starts, and says what is wrong with a bracket or quote.
func (d *Decoder) split(line []byte) (string, bool) {
	d.fields, d.starts, d.quoted = d.fields[:0], d.starts[:0], 0
	for i := 0; i < len(line); {
		if line[i] == ' ' {
			i++
			continue
		}
		n := len(d.fields)
		d.starts = append(d.starts, i)
		switch line[i] {
		case '"':
			end := closing(line, i+1, '"')
			if end < 0 {
				return fmt.Sprintf("field %d (%s) opens a double quote at byte %d that the line never closes", n+1, fieldName(n), i), false
			}
			d.fields = append(d.fields, line[i+1:end])
			if n < 64 {
				d.quoted |= 1 << n
			}
			i = end + 1
		case '[':
			end := closing(line, i+1, ']')
			if end < 0 {
				return fmt.Sprintf("field %d (%s) opens a square bracket at byte %d that the line never closes", n+1, fieldName(n), i), false
			}
			d.fields = append(d.fields, line[i:end+1])
			i = end + 1
		default:
			j := bytes.IndexByte(line[i:], ' ')
			if j < 0 {
				j = len(line) - i
			}
			d.fields = append(d.fields, line[i:i+j])
			i += j
		}
	}
	return "", true
}

// closing is the position of the first c at or after i that ends a field
// (a space or the line's end follows it), or -1.
func closing(line []byte, i int, c byte) int {
	for i < len(line) {
		j := bytes.IndexByte(line[i:], c)
		if j < 0 {
			return -1
		}
		end := i + j
		if end+1 == len(line) || line[end+1] == ' ' {
			return end
		}
		i = end + 1
	}
	return -1
}

func fieldName(i int) string {
	if i < len(names) {
		return names[i]
	}
	return "a field after aclRequired"
}

// absent reports AWS's "-" for no value.
func absent(b []byte) bool { return len(b) == 0 || len(b) == 1 && b[0] == '-' }

// bad is a quarantined record's error: the field, where it starts in the
// line, and what is wrong with it.
func (d *Decoder) bad(line []byte, pos int, format_ string, args ...any) error {
	return &format.RecordError{Reason: fmt.Sprintf("field %d (%s) at byte %d: ", pos+1, names[pos], d.starts[pos]) + fmt.Sprintf(format_, args...), Raw: line}
}

// Normalize fills rec (an aws_events record stamped with its provenance)
// from a line read by this decoder.
func (d *Decoder) Normalize(line []byte, rec *interflow.Record) error {
	if d.Cut() && len(line) == MaxLine {
		return &format.RecordError{Reason: fmt.Sprintf("the line is longer than %d bytes; only its start is kept", MaxLine), Raw: line}
	}
	if why, ok := d.split(line); !ok {
		return &format.RecordError{Reason: why + ": a server access log record quotes Request-URI, Referer and User-Agent whole and brackets Time", Raw: line}
	}
	f := d.fields
	if len(f) < MinFields {
		return &format.RecordError{Reason: fmt.Sprintf("the line has %d fields; a server access log record has at least %d (Bucket Owner through Signature Version)", len(f), MinFields), Raw: line}
	}
	for i := range min(len(f), numFields) {
		if quoted&(1<<i) != 0 && d.quoted&(1<<i) == 0 && !absent(f[i]) {
			return d.bad(line, i, "%q is not in double quotes as AWS writes it: the line does not have the server access log's layout", format.Cap(f[i], 64))
		}
	}
	t, ok := parseTime(f[fTime])
	if !ok {
		return d.bad(line, fTime, "%q is not a time in brackets such as [06/Feb/2019:00:00:38 +0000]", format.Cap(f[fTime], 64))
	}
	rec.SetTime(interflow.FTimestamp, t)
	if !absent(f[fRemoteIP]) && !d.setIP(rec, f[fRemoteIP]) {
		return d.bad(line, fRemoteIP, "%q is not an IP address", format.Cap(f[fRemoteIP], 64))
	}
	for _, n := range numbers {
		if absent(f[n.pos]) {
			if n.pos == fBytesSent {
				rec.SetInt(n.field, 0) // AWS: "or - if zero"
			}
			continue
		}
		v, ok := format.ParseUint(f[n.pos])
		if !ok {
			return d.bad(line, n.pos, "%q is not a number", format.Cap(f[n.pos], 64))
		}
		rec.SetInt(n.field, v)
	}
	if len(f) > fACLRequired {
		switch v := f[fACLRequired]; {
		case string(v) == "Yes":
			rec.SetBool(interflow.ES3ACLRequired, true)
		case absent(v):
			rec.SetBool(interflow.ES3ACLRequired, false)
		default:
			return d.bad(line, fACLRequired, "%q is neither Yes nor -", format.Cap(v, 64))
		}
	}
	d.setTexts(rec, f)
	d.setRequest(rec, f[fRequestURI])
	if r := f[fRequester]; bytes.HasPrefix(r, []byte("arn:")) {
		// An IAM identity: CloudTrail's user.arn, so one search finds it
		// in both logs.
		rec.SetBytes(interflow.EUserARN, r)
	}
	region := d.region
	if region == "" && len(f) > fHostHeader {
		region = d.hostRegion(f[fHostHeader])
	}
	if d.acct != "" {
		rec.SetString(interflow.FAccountID, d.acct)
	}
	if region != "" {
		rec.SetString(interflow.FRegion, region)
	}
	rec.SetBytes(interflow.FRaw, line)
	return nil
}

// setTexts sets the text fields the record has.
func (d *Decoder) setTexts(rec *interflow.Record, f [][]byte) {
	for i, tx := range texts {
		if tx.pos < len(f) && !absent(f[tx.pos]) {
			d.texts[i].Set(rec, tx.field, f[tx.pos])
		}
	}
	for _, u := range unique {
		if u.pos < len(f) && !absent(f[u.pos]) {
			rec.SetBytes(u.field, f[u.pos])
		}
	}
}

// setRequest maps the Request-URI, "METHOD /path?query VERSION" (the GET
// record of a copy has no version): the method, the path and query, and
// the version.
func (d *Decoder) setRequest(rec *interflow.Record, req []byte) {
	req = bytes.TrimSpace(req)
	sp := bytes.IndexByte(req, ' ')
	if absent(req) || sp < 0 {
		return
	}
	method, uri := req[:sp], bytes.TrimSpace(req[sp+1:])
	if sp := bytes.LastIndexByte(uri, ' '); sp >= 0 && bytes.HasPrefix(uri[sp+1:], []byte("HTTP/")) {
		rec.SetBytes(interflow.EHTTPVersion, uri[sp+1:])
		uri = bytes.TrimSpace(uri[:sp])
	}
	if !absent(method) {
		rec.SetBytes(interflow.EHTTPMethod, method)
	}
	if !absent(uri) {
		rec.SetBytes(interflow.EHTTPURI, uri)
	}
}

// setIP sets the Remote IP, canonical.
func (d *Decoder) setIP(rec *interflow.Record, b []byte) bool {
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	d.ipBuf = a.AppendTo(d.ipBuf[:0])
	if bytes.Equal(d.ipBuf, b) {
		rec.SetBytes(interflow.FSrcIP, b) // already canonical, as AWS writes IPv4
	} else {
		rec.SetString(interflow.FSrcIP, string(d.ipBuf))
	}
	return true
}

// regionLabel is a region code as an endpoint's label holds it.
var regionLabel = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$`)

// hostRegion is the region of an S3 endpoint, the Host Header
// (bucket.s3.us-west-1.amazonaws.com, s3.dualstack.eu-west-1.amazonaws.com,
// the legacy s3-us-west-2.amazonaws.com, an access point's
// name-123456789012.s3-accesspoint.us-west-2.amazonaws.com), or "" for the
// global endpoint s3.amazonaws.com and hosts of other forms. The last host
// is remembered: a bucket's records mostly share one.
func (d *Decoder) hostRegion(h []byte) string {
	if absent(h) {
		return ""
	}
	if string(h) == d.host {
		return d.hostReg
	}
	d.host, d.hostReg = string(h), ""
	for _, label := range strings.Split(d.host, ".") {
		label = strings.TrimPrefix(label, "s3-")
		if regionLabel.MatchString(label) {
			d.hostReg = label
			break
		}
	}
	return d.hostReg
}

// months are the strftime %b abbreviations AWS writes.
var months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// parseTime reads [%d/%b/%Y:%H:%M:%S %z], e.g. [06/Feb/2019:00:00:38
// +0000], without allocating for AWS's +0000.
func parseTime(b []byte) (time.Time, bool) {
	// [06/Feb/2019:00:00:38 +0000]
	// 0123456789012345678901234567
	if len(b) != 28 || b[0] != '[' || b[27] != ']' || b[3] != '/' || b[7] != '/' || b[12] != ':' || b[15] != ':' || b[18] != ':' || b[21] != ' ' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	day, ok1 := num(b[1:3])
	mon, ok2 := months[string(b[4:7])]
	year, ok3 := num(b[8:12])
	hh, ok4 := num(b[13:15])
	mm, ok5 := num(b[16:18])
	ss, ok6 := num(b[19:21])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	t := time.Date(year, mon, day, hh, mm, ss, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 31/Feb
	}
	if string(b[22:27]) == "+0000" {
		return t, true
	}
	z, err := time.Parse("-0700", string(b[22:27]))
	if err != nil {
		return time.Time{}, false
	}
	_, off := z.Zone()
	return t.Add(-time.Duration(off) * time.Second), true
}
