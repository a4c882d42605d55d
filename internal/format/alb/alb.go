// Package alb decodes Application Load Balancer access logs as Elastic
// Load Balancing delivers them to S3: text objects, gzip-compressed, one
// entry per line, under
// AWSLogs/<account>/elasticloadbalancing/<region>/YYYY/MM/DD/, and
// normalizes each entry to Interflow. The fields are AWS's "Access log
// entries" (Syntax) of
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html:
// space-separated, in a fixed order, some in double quotes (request,
// user_agent, trace_id, domain_name, chosen_cert_arn, actions_executed,
// redirect_url, error_reason, target:port_list, target_status_code_list,
// classification, classification_reason), "-" for absent. AWS adds new
// fields at the end of the entry and says to ignore the ones not expected:
// fields after conn_trace_id are accepted and left in raw.
//
// Lines are read one at a time from a buffered reader, split in place and
// mapped without copying: values point into the line until the batch
// copies them, and the values a column repeats (the load balancer, the
// target group, the cipher) are set as one kept string.
package alb

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/prefix"
)

// Class is the records' msg_class.
const Class = "alb"

// MaxLine caps one line; a longer line is quarantined, not buffered. AWS
// truncates a user agent at 8 KB; a request line is at most ALB's 16 KB
// request line limit.
const MaxLine = 256 << 10

// The fields of an entry, by position (AWS's order).
const (
	fType = iota
	fTime
	fELB
	fClient
	fTarget
	fRequestProcessingTime
	fTargetProcessingTime
	fResponseProcessingTime
	fELBStatusCode
	fTargetStatusCode
	fReceivedBytes
	fSentBytes
	fRequest
	fUserAgent
	fSSLCipher
	fSSLProtocol
	fTargetGroupARN
	fTraceID
	fDomainName
	fChosenCertARN
	fMatchedRulePriority
	fRequestCreationTime
	fActionsExecuted
	fRedirectURL
	fErrorReason
	fTargetPortList
	fTargetStatusCodeList
	fClassification
	fClassificationReason
	fConnTraceID
)

// MinFields is how many fields an entry has at least: type through
// classification_reason, every field Trawl maps. conn_trace_id, added
// after them (AWS's archived documentation of 2023 has no such field),
// is not required, so entries written before it decode too.
const MinFields = fClassificationReason + 1

// names are AWS's names of the fields, for errors.
var names = [...]string{"type", "time", "elb", "client:port", "target:port", "request_processing_time", "target_processing_time",
	"response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request", "user_agent",
	"ssl_cipher", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "chosen_cert_arn", "matched_rule_priority",
	"request_creation_time", "actions_executed", "redirect_url", "error_reason", "target:port_list", "target_status_code_list",
	"classification", "classification_reason", "conn_trace_id"}

// quoted are the fields AWS writes in double quotes. An entry whose
// fields there are not quoted does not have AWS's layout (an unquoted
// request line splits into three fields and shifts every field after it).
const quoted = 1<<fRequest | 1<<fUserAgent | 1<<fTraceID | 1<<fDomainName | 1<<fChosenCertARN | 1<<fActionsExecuted |
	1<<fRedirectURL | 1<<fErrorReason | 1<<fTargetPortList | 1<<fTargetStatusCodeList | 1<<fClassification | 1<<fClassificationReason

// texts are the text fields whose values repeat from entry to entry and
// are kept as one string each (see setText).
var texts = [...]struct{ pos, field int }{
	{fType, interflow.EELBType}, {fELB, interflow.EELBName}, {fSSLCipher, interflow.ETLSCipher},
	{fSSLProtocol, interflow.ETLSProtocol}, {fTargetGroupARN, interflow.EELBTargetGroupARN},
	{fTargetStatusCode, interflow.EHTTPTargetStatus}, {fUserAgent, interflow.EUserAgent},
	{fDomainName, interflow.EHTTPHost}, {fErrorReason, interflow.EELBErrorReason}, {fClassification, interflow.EELBClassification},
}

// maxActions bounds the kept lists of actions_executed (a handful of
// combinations occur: forward, authenticate,forward, waf,forward, ...).
const maxActions = 64

// Decoder reads access log entries from one object.
type Decoder struct {
	*format.Lines
	fields  [][]byte
	quoted  uint64 // which of the first 64 fields were quoted
	acct    string // from the key
	region  string // from the key
	texts   [len(texts)]format.Repeated
	actions map[string][]string
	ipBuf   []byte
}

// NewDecoder returns a decoder over a decompressed object. The key gives
// the account and region (AWSLogs/<acct>/elasticloadbalancing/<region>/...).
func NewDecoder(r io.Reader, key string) *Decoder {
	d := &Decoder{Lines: format.NewLines(r, MaxLine), acct: prefix.Account(key), region: regionFromKey(key), actions: map[string][]string{}}
	for i := range d.texts {
		d.texts[i].Wide = true // ALB's fields alternate among more values (targets, statuses)
	}
	return d
}

func regionFromKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "elasticloadbalancing" && i+1 < len(parts) && i+2 < len(parts) {
			return parts[i+1]
		}
	}
	return ""
}

// SkipReason reports objects under an ELB log prefix that hold no
// Application Load Balancer access log entries: folder markers, the test
// file ELB writes when access logs are enabled, and the other logs
// Elastic Load Balancing delivers to the same folders (Network and
// Classic Load Balancers' access logs, which AWS names
// <account>_elasticloadbalancing_<region>_net.<name>... and
// <account>_elasticloadbalancing_<region>_<name>..., and logs of other
// kinds whose names do not start with the account). Objects not named as
// ELB names them (copies, exports) are read.
func SkipReason(key string) string {
	if strings.HasSuffix(key, "/") {
		return "a folder marker"
	}
	base := key[strings.LastIndexByte(key, '/')+1:]
	if base == "ELBAccessLogTestFile" {
		return "ELBAccessLogTestFile (Elastic Load Balancing's bucket write check, no records)"
	}
	i := strings.Index(base, "_elasticloadbalancing_")
	if i < 0 {
		return ""
	}
	if i != 12 || prefix.Account("AWSLogs/"+base[:12]+"/") == "" {
		return "not an access log file: Elastic Load Balancing names those <account>_elasticloadbalancing_<region>_app.<load balancer>_..."
	}
	parts := strings.SplitN(base[i+len("_elasticloadbalancing_"):], "_", 3)
	if len(parts) < 2 || strings.HasPrefix(parts[1], "app.") {
		return ""
	}
	if strings.HasPrefix(parts[1], "net.") {
		return "a Network Load Balancer's access log (sub type alb reads Application Load Balancer logs)"
	}
	return "a Classic Load Balancer's access log (sub type alb reads Application Load Balancer logs)"
}

// split splits a line into its fields: runs of spaces apart, a field in
// double quotes up to the next quote (AWS writes a quote inside a value
// as \x22). It records which fields were quoted, and says what is wrong
// with a quote.
func (d *Decoder) split(line []byte) (string, bool) {
	d.fields, d.quoted = d.fields[:0], 0
	for i := 0; i < len(line); {
		if line[i] == ' ' {
			i++
			continue
		}
		n := len(d.fields)
		if line[i] != '"' {
			j := bytes.IndexByte(line[i:], ' ')
			if j < 0 {
				j = len(line) - i
			}
			d.fields = append(d.fields, line[i:i+j])
			i += j
			continue
		}
		j := bytes.IndexByte(line[i+1:], '"')
		if j < 0 {
			return fmt.Sprintf("field %d (%s) opens a double quote that the line never closes", n+1, fieldName(n)), false
		}
		end := i + 1 + j
		if end+1 < len(line) && line[end+1] != ' ' {
			return fmt.Sprintf("field %d (%s) has text right after its closing double quote", n+1, fieldName(n)), false
		}
		d.fields = append(d.fields, line[i+1:end])
		if n < 64 {
			d.quoted |= 1 << n
		}
		i = end + 1
	}
	return "", true
}

func fieldName(i int) string {
	if i < len(names) {
		return names[i]
	}
	return "a field after conn_trace_id"
}

// absent reports AWS's "-" for no value.
func absent(b []byte) bool { return len(b) == 0 || len(b) == 1 && b[0] == '-' }

// Normalize fills rec (an aws_events record stamped with its provenance)
// from a line read by this decoder.
func (d *Decoder) Normalize(line []byte, rec *interflow.Record) error {
	if d.Cut() && len(line) == MaxLine {
		return &format.RecordError{Reason: fmt.Sprintf("the line is longer than %d bytes; only its start is kept", MaxLine), Raw: line}
	}
	if why, ok := d.split(line); !ok {
		return &format.RecordError{Reason: why + ": an Application Load Balancer access log entry quotes request, user_agent and the other quoted fields whole", Raw: line}
	}
	f := d.fields
	if len(f) < MinFields {
		return &format.RecordError{Reason: fmt.Sprintf("the line has %d fields; an Application Load Balancer access log entry has at least %d (type through classification_reason)", len(f), MinFields), Raw: line}
	}
	if miss := quoted &^ d.quoted; miss != 0 {
		i := 0
		for miss&1 == 0 {
			miss >>= 1
			i++
		}
		return &format.RecordError{Reason: fmt.Sprintf("field %d (%s) is not in double quotes as AWS writes it: the line does not have the access log's layout", i+1, names[i]), Raw: line}
	}
	t, err := time.Parse(time.RFC3339Nano, unsafe.String(unsafe.SliceData(f[fTime]), len(f[fTime])))
	if err != nil {
		return &format.RecordError{Reason: fmt.Sprintf("field time: %q is not an ISO 8601 time", f[fTime]), Raw: line}
	}
	rec.SetTime(interflow.FTimestamp, t)
	if !d.setAddr(rec, f[fClient], interflow.FSrcIP, interflow.ESrcPort) {
		return &format.RecordError{Reason: fmt.Sprintf("field client:port: %q is not an IP address and port", f[fClient]), Raw: line}
	}
	if !absent(f[fTarget]) && !d.setAddr(rec, f[fTarget], interflow.EDstIP, interflow.EDstPort) {
		return &format.RecordError{Reason: fmt.Sprintf("field target:port: %q is not an IP address and port", f[fTarget]), Raw: line}
	}
	for _, n := range [...]struct{ pos, field int }{{fELBStatusCode, interflow.EResponseCode}, {fReceivedBytes, interflow.EBytesIn}, {fSentBytes, interflow.EBytesOut}} {
		if absent(f[n.pos]) {
			continue
		}
		v, ok := format.ParseUint(f[n.pos])
		if !ok {
			return &format.RecordError{Reason: fmt.Sprintf("field %s: %q is not a number", names[n.pos], f[n.pos]), Raw: line}
		}
		rec.SetInt(n.field, v)
	}
	for i, tx := range texts {
		if !absent(f[tx.pos]) {
			d.texts[i].Set(rec, tx.field, f[tx.pos])
		}
	}
	d.setRequest(rec, f[fRequest])
	if !absent(f[fTraceID]) {
		rec.SetBytes(interflow.EELBTraceID, f[fTraceID])
	}
	if !absent(f[fActionsExecuted]) {
		rec.SetList(interflow.EELBActions, d.actionList(f[fActionsExecuted]))
	}
	acct, region := d.acct, d.region
	if acct == "" || region == "" {
		// arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/...
		a, r := arnAccountRegion(f[fTargetGroupARN])
		if acct == "" {
			acct = a
		}
		if region == "" {
			region = r
		}
	}
	rec.SetString(interflow.FAccountID, acct)
	rec.SetString(interflow.FRegion, region)
	rec.SetBytes(interflow.FRaw, line)
	return nil
}

// setRequest maps the request line, "METHOD scheme://host:port/uri
// VERSION" (AWS logs the URL as the client sent it): the method, the
// URL's path and query, the version, and the URL's host when the client
// gave no SNI domain_name.
func (d *Decoder) setRequest(rec *interflow.Record, req []byte) {
	req = bytes.TrimSpace(req) // "- - - " when the request was malformed
	sp := bytes.IndexByte(req, ' ')
	if sp < 0 {
		return
	}
	method, rest := req[:sp], req[sp+1:]
	url, version := rest, []byte(nil)
	if sp := bytes.LastIndexByte(rest, ' '); sp >= 0 {
		url, version = rest[:sp], rest[sp+1:]
	}
	if !absent(method) {
		rec.SetBytes(interflow.EHTTPMethod, method)
	}
	if !absent(version) {
		rec.SetBytes(interflow.EHTTPVersion, version)
	}
	if absent(url) {
		return
	}
	host, uri := []byte(nil), url
	if i := bytes.Index(url, []byte("://")); i >= 0 {
		authority := url[i+3:]
		uri = nil
		if j := bytes.IndexAny(authority, "/?"); j >= 0 {
			authority, uri = authority[:j], authority[j:]
		}
		host = hostOf(authority)
	}
	if len(uri) > 0 {
		rec.SetBytes(interflow.EHTTPURI, uri)
	}
	if !rec.Has(interflow.EHTTPHost) && len(host) > 0 {
		rec.SetBytes(interflow.EHTTPHost, host)
	}
}

// hostOf is the host of a URL's authority: without user information, port
// or an IPv6 literal's brackets.
func hostOf(a []byte) []byte {
	if i := bytes.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	if len(a) > 0 && a[0] == '[' {
		if j := bytes.IndexByte(a, ']'); j > 0 {
			return a[1:j]
		}
		return nil
	}
	if j := bytes.LastIndexByte(a, ':'); j >= 0 {
		a = a[:j]
	}
	return a
}

// setAddr sets an "address:port" field's address and port. AWS writes an
// IPv6 client as the address and port apart by the last colon, without
// brackets (2001:db8::1:443); the bracketed form is read too.
func (d *Decoder) setAddr(rec *interflow.Record, b []byte, ipField, portField int) bool {
	var addr, port []byte
	if len(b) > 0 && b[0] == '[' {
		j := bytes.Index(b, []byte("]:"))
		if j < 0 {
			return false
		}
		addr, port = b[1:j], b[j+2:]
	} else {
		j := bytes.LastIndexByte(b, ':')
		if j < 0 {
			return false
		}
		addr, port = b[:j], b[j+1:]
	}
	p, ok := format.ParseUint(port)
	if !ok || p > 65535 || len(addr) == 0 {
		return false
	}
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(addr), len(addr)))
	if err != nil || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	d.ipBuf = a.AppendTo(d.ipBuf[:0])
	if bytes.Equal(d.ipBuf, addr) {
		rec.SetBytes(ipField, addr) // already canonical, as AWS writes IPv4
	} else {
		rec.SetString(ipField, string(d.ipBuf))
	}
	rec.SetInt(portField, p)
	return true
}

// actionList is actions_executed split at its commas, one kept list per
// combination.
func (d *Decoder) actionList(v []byte) []string {
	if l, ok := d.actions[string(v)]; ok {
		return l
	}
	l := strings.Split(string(v), ",")
	if len(d.actions) < maxActions {
		d.actions[string(v)] = l
	}
	return l
}

// arnAccountRegion reads the region and account of an ARN
// (arn:partition:service:region:account:resource).
func arnAccountRegion(arn []byte) (acct, region string) {
	parts := bytes.SplitN(arn, []byte(":"), 6)
	if len(parts) < 6 || string(parts[0]) != "arn" {
		return "", ""
	}
	return string(parts[4]), string(parts[3])
}
