// Package guardduty decodes Amazon GuardDuty findings as GuardDuty exports
// them to S3 ("Exporting generated findings to Amazon S3 buckets"):
// gzip-compressed, SSE-KMS encrypted objects
// <prefix>/AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz,
// one finding per line as a JSON object, and normalizes each finding to
// Interflow.
//
// A finding is the API's Finding object with its members named as the
// API writes them on the wire (camelCase: schemaVersion, accountId,
// resource.resourceType, service.action.actionType, ...; GuardDuty API
// Reference, "Finding"). GuardDuty exports a finding again each time it
// is updated, with the same id and a later updatedAt: every export is a
// record of its own, stamped with its updatedAt, so a finding's history
// is all its records and its latest version the newest of them.
package guardduty

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Class is the records' msg_class.
const Class = "guardduty"

// MaxLine caps one finding's line; a longer line is quarantined, not
// buffered. Findings are a few kilobytes; Runtime Monitoring's carry a
// process lineage and Malware Protection's a list of threats, still well
// under a megabyte.
const MaxLine = 1 << 20

// MaxSeverity is the top of GuardDuty's severity range (Critical is 9.0
// to 10.0).
const MaxSeverity = 10.0

// Decoder reads findings from one object: one JSON object per line, as
// GuardDuty writes them, so a damaged line is quarantined on its own and
// the lines after it are read.
type Decoder struct {
	*format.Lines
	p fastjson.Parser
}

// NewDecoder returns a decoder over a decompressed object.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{Lines: format.NewLines(r, MaxLine)} }

// SkipReason reports objects under a findings prefix that hold no
// findings.
func SkipReason(key string) string {
	if strings.HasSuffix(key, "/") {
		return "a folder marker"
	}
	return ""
}

// SeverityLabel is GuardDuty's level of a severity value ("Severity levels
// of GuardDuty findings"): Critical 9.0-10.0, High 7.0-8.9, Medium
// 4.0-6.9, Low 1.0-3.9. Values below 1.0, which findings written before
// Critical existed may hold (0.1 to 8.9 was the documented range then),
// are Low.
func SeverityLabel(s float64) string {
	switch {
	case s >= 9:
		return "Critical"
	case s >= 7:
		return "High"
	case s >= 4:
		return "Medium"
	}
	return "Low"
}

// Normalize fills rec (an aws_events record stamped with its provenance)
// from one finding.
func (d *Decoder) Normalize(raw []byte, rec *interflow.Record) error {
	if d.Cut() {
		return &format.RecordError{Reason: fmt.Sprintf("the line is longer than %d KiB: GuardDuty writes one finding per line, each well under that", MaxLine>>10), Raw: raw}
	}
	v, err := format.ParseObject(&d.p, raw)
	if err != nil {
		return err
	}
	if err := identity(v, raw, rec); err != nil {
		return err
	}
	if err := times(v, raw, rec); err != nil {
		return err
	}
	rec.SetBytes(interflow.FRaw, raw)
	rec.SetBytes(interflow.FAccountID, text(v, "accountId"))
	rec.SetBytes(interflow.FRegion, text(v, "region"))
	rec.SetBytes(interflow.ECloudPartition, text(v, "partition"))
	rec.SetBytes(interflow.EEventVersion, text(v, "schemaVersion"))
	rec.SetBytes(interflow.EFindingTitle, text(v, "title"))
	rec.SetBytes(interflow.EFindingDescription, text(v, "description"))
	resource(v.Get("resource"), rec)
	service(v.Get("service"), rec)
	return nil
}

// identity reads what makes a finding one: its id, type and severity,
// each required (the API's Finding requires them).
func identity(v *fastjson.Value, raw []byte, rec *interflow.Record) error {
	id := text(v, "id")
	if len(id) == 0 {
		why := "id is missing: every GuardDuty finding has one"
		if v.Exists("Id") {
			// The CLI prints findings with PascalCase names; exports
			// write the API's camelCase.
			why += " (this line names it Id: that is the AWS CLI's output form, not what GuardDuty exports to S3, whose names are camelCase: id, type, severity, ...)"
		}
		return &format.RecordError{Reason: why, Raw: raw}
	}
	typ := text(v, "type")
	if len(typ) == 0 {
		return &format.RecordError{Reason: "type is missing: every GuardDuty finding has one, e.g. Recon:EC2/PortProbeUnprotectedPort", Raw: raw}
	}
	sev, err := severity(v.Get("severity"))
	if err != nil {
		return &format.RecordError{Reason: err.Error(), Raw: raw}
	}
	rec.SetBytes(interflow.EFindingID, id)
	rec.SetBytes(interflow.EFindingType, typ)
	rec.SetFloat(interflow.EFindingSeverity, sev)
	rec.SetString(interflow.EFindingSeverityLabel, SeverityLabel(sev))
	return nil
}

// severity reads the severity: a number (the API's double), or a number
// written as a string, from 0 to MaxSeverity.
func severity(v *fastjson.Value) (float64, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return 0, fmt.Errorf("severity is missing: every GuardDuty finding has one, a number from 1.0 to %.1f", MaxSeverity)
	}
	var s float64
	var err error
	switch v.Type() {
	case fastjson.TypeNumber:
		s, err = v.Float64()
	case fastjson.TypeString:
		s, err = strconv.ParseFloat(string(v.GetStringBytes()), 64)
	default:
		err = fmt.Errorf("a %s", v.Type())
	}
	if err != nil || math.IsNaN(s) {
		return 0, fmt.Errorf("severity %.64s is not a number: GuardDuty writes one from 1.0 to %.1f", v.String(), MaxSeverity)
	}
	if s < 0 || s > MaxSeverity {
		return 0, fmt.Errorf("severity %v is outside GuardDuty's range, 0 to %.1f", s, MaxSeverity)
	}
	return s, nil
}

// times reads the finding's times: updatedAt (required; the record's
// time, as each export is the finding as updated then), createdAt and the
// activity's first and last sights. A time that is there but no RFC 3339
// time makes the finding damaged.
func times(v *fastjson.Value, raw []byte, rec *interflow.Record) error {
	up := text(v, "updatedAt")
	if len(up) == 0 {
		return &format.RecordError{Reason: "updatedAt is missing: every GuardDuty finding has one (RFC 3339, UTC), the time of the version exported", Raw: raw}
	}
	for _, t := range []struct {
		field int
		path  []string
	}{
		{interflow.FTimestamp, []string{"updatedAt"}},
		{interflow.EFindingCreatedAt, []string{"createdAt"}},
		{interflow.EFindingFirstSeen, []string{"service", "eventFirstSeen"}},
		{interflow.EFindingLastSeen, []string{"service", "eventLastSeen"}},
	} {
		s := text(v, t.path...)
		if len(s) == 0 {
			continue
		}
		ts, err := format.ParseTime(string(s))
		if err != nil {
			return &format.RecordError{Reason: fmt.Sprintf("%s %.64q is not an RFC 3339 time", strings.Join(t.path, "."), s), Raw: raw}
		}
		rec.SetTime(t.field, ts)
	}
	return nil
}

// resource reads the affected resource: its type, the access key's user,
// the instance, the S3 buckets, the EKS cluster and its Kubernetes user.
func resource(r *fastjson.Value, rec *interflow.Record) {
	if r == nil {
		return
	}
	rec.SetBytes(interflow.EResourceType, text(r, "resourceType"))
	if ak := r.Get("accessKeyDetails"); ak != nil {
		rec.SetBytes(interflow.EUserName, text(ak, "userName"))
		rec.SetBytes(interflow.EUserType, text(ak, "userType"))
		rec.SetBytes(interflow.EUserAccessKeyID, text(ak, "accessKeyId"))
	}
	if in := r.Get("instanceDetails"); in != nil {
		rec.SetBytes(interflow.EInstanceID, text(in, "instanceId"))
		if nis := in.GetArray("networkInterfaces"); len(nis) > 0 {
			rec.SetBytes(interflow.EVPCID, text(nis[0], "vpcId"))
		}
	}
	var buckets []string
	for _, b := range r.GetArray("s3BucketDetails") {
		if name := text(b, "name"); len(name) > 0 {
			buckets = append(buckets, string(name))
		}
	}
	rec.SetList(interflow.EResourceS3Buckets, buckets)
	if eks := r.Get("eksClusterDetails"); eks != nil {
		rec.SetBytes(interflow.EResourceEKSCluster, text(eks, "name"))
		if !rec.Has(interflow.EVPCID) {
			rec.SetBytes(interflow.EVPCID, text(eks, "vpcId"))
		}
	}
	if !rec.Has(interflow.EUserName) {
		rec.SetBytes(interflow.EUserName, text(r, "kubernetesDetails", "kubernetesUserDetails", "username"))
	}
}

// service reads what GuardDuty observed: the counts and flags, and the
// action.
func service(s *fastjson.Value, rec *interflow.Record) {
	if s == nil {
		return
	}
	if n, ok := intOf(s.Get("count")); ok {
		rec.SetInt(interflow.EFindingCount, n)
	}
	setBool(rec, interflow.EFindingArchived, s.Get("archived"))
	setBool(rec, interflow.EFindingSample, s.Get("additionalInfo", "sample"))
	rec.SetBytes(interflow.EFindingResourceRole, text(s, "resourceRole"))
	if a := s.Get("action"); a != nil {
		action(a, rec)
	}
}

// action reads the activity by its kind: an AWS API call, a network
// connection, a port probe, a DNS request, a Kubernetes API call or an
// RDS login attempt. The source and destination fields follow who
// started it: the remote host of a call, probe or inbound connection, the
// local one of an outbound connection (an UNKNOWN direction sets
// neither: the remote and local fields still hold both ends).
func action(a *fastjson.Value, rec *interflow.Record) {
	rec.SetBytes(interflow.EFindingActionType, text(a, "actionType"))
	if c := a.Get("awsApiCallAction"); c != nil {
		rec.SetBytes(interflow.EEventName, text(c, "api"))
		rec.SetBytes(interflow.EEventSource, text(c, "serviceName"))
		rec.SetBytes(interflow.EErrorCode, text(c, "errorCode"))
		rec.SetBytes(interflow.EUserAgent, text(c, "userAgent"))
		remote(c.Get("remoteIpDetails"), rec)
		rec.Copy(interflow.FSrcIP, interflow.EFindingRemoteIP)
	}
	if c := a.Get("networkConnectionAction"); c != nil {
		connection(c, rec)
	}
	if p := a.Get("portProbeAction"); p != nil {
		setBool(rec, interflow.EFindingBlocked, p.Get("blocked"))
		if ds := p.GetArray("portProbeDetails"); len(ds) > 0 {
			remote(ds[0].Get("remoteIpDetails"), rec)
			local(ds[0], rec)
			rec.Copy(interflow.FSrcIP, interflow.EFindingRemoteIP)
			rec.Copy(interflow.EDstIP, interflow.EFindingLocalIP)
			rec.Copy(interflow.EDstPort, interflow.EFindingLocalPort)
		}
	}
	if q := a.Get("dnsRequestAction"); q != nil {
		rec.SetBytes(interflow.EDNSQuestionName, text(q, "domain"))
		rec.SetBytes(interflow.EFindingProtocol, text(q, "protocol"))
		setBool(rec, interflow.EFindingBlocked, q.Get("blocked"))
	}
	if k := a.Get("kubernetesApiCallAction"); k != nil {
		rec.SetBytes(interflow.EHTTPURI, text(k, "requestUri"))
		rec.SetBytes(interflow.EUserAgent, text(k, "userAgent"))
		if n, ok := intOf(k.Get("statusCode")); ok {
			rec.SetInt(interflow.EResponseCode, n)
		}
		remote(k.Get("remoteIpDetails"), rec)
		rec.Copy(interflow.FSrcIP, interflow.EFindingRemoteIP)
	}
	if l := a.Get("rdsLoginAttemptAction"); l != nil {
		remote(l.Get("remoteIpDetails"), rec)
		rec.Copy(interflow.FSrcIP, interflow.EFindingRemoteIP)
	}
}

// connection reads a network connection, its ends by its direction.
func connection(c *fastjson.Value, rec *interflow.Record) {
	dir := text(c, "connectionDirection")
	rec.SetBytes(interflow.EFindingDirection, dir)
	rec.SetBytes(interflow.EFindingProtocol, text(c, "protocol"))
	setBool(rec, interflow.EFindingBlocked, c.Get("blocked"))
	remote(c.Get("remoteIpDetails"), rec)
	if p, ok := port(c.Get("remotePortDetails", "port")); ok {
		rec.SetInt(interflow.EFindingRemotePort, p)
	}
	local(c, rec)
	src, dst := [2]int{interflow.EFindingRemoteIP, interflow.EFindingRemotePort}, [2]int{interflow.EFindingLocalIP, interflow.EFindingLocalPort}
	switch string(dir) {
	case "INBOUND":
	case "OUTBOUND":
		src, dst = dst, src
	default:
		return
	}
	rec.Copy(interflow.FSrcIP, src[0])
	rec.Copy(interflow.ESrcPort, src[1])
	rec.Copy(interflow.EDstIP, dst[0])
	rec.Copy(interflow.EDstPort, dst[1])
}

// remote reads remoteIpDetails: the address (IPv4, else IPv6), its
// country and organization.
func remote(r *fastjson.Value, rec *interflow.Record) {
	if r == nil {
		return
	}
	if ip, ok := address(r); ok {
		rec.SetString(interflow.EFindingRemoteIP, ip)
	}
	rec.SetBytes(interflow.EFindingRemoteCountry, text(r, "country", "countryName"))
	rec.SetBytes(interflow.EFindingRemoteOrg, text(r, "organization", "org"))
}

// local reads the local address and port of a connection or port probe.
func local(v *fastjson.Value, rec *interflow.Record) {
	if ip, ok := address(v.Get("localIpDetails")); ok {
		rec.SetString(interflow.EFindingLocalIP, ip)
	}
	if p, ok := port(v.Get("localPortDetails", "port")); ok {
		rec.SetInt(interflow.EFindingLocalPort, p)
	}
}

// address is an ipAddressV4, else ipAddressV6, in its canonical text.
func address(v *fastjson.Value) (string, bool) {
	if v == nil {
		return "", false
	}
	if ip, ok := format.NormalizeIP(string(text(v, "ipAddressV4"))); ok {
		return ip, true
	}
	return format.NormalizeIP(string(text(v, "ipAddressV6")))
}

// text is a value's text (see format.JSONBytes): valid until the parser
// parses again, which is after the record is stored.
func text(v *fastjson.Value, keys ...string) []byte { return format.JSONBytes(v.Get(keys...)) }

// intOf reads an integer written as a number or as a string.
func intOf(v *fastjson.Value) (int64, bool) {
	if v == nil {
		return 0, false
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		n, err := v.Int64()
		return n, err == nil
	case fastjson.TypeString:
		n, err := strconv.ParseInt(string(v.GetStringBytes()), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// port reads a port number, 0 to 65535.
func port(v *fastjson.Value) (int64, bool) {
	n, ok := intOf(v)
	return n, ok && n >= 0 && n <= 65535
}

// setBool stores a JSON boolean, or one written as "true" or "false".
func setBool(rec *interflow.Record, i int, v *fastjson.Value) {
	if v == nil {
		return
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		rec.SetBool(i, true)
	case fastjson.TypeFalse:
		rec.SetBool(i, false)
	case fastjson.TypeString:
		if b, err := strconv.ParseBool(string(v.GetStringBytes())); err == nil {
			rec.SetBool(i, b)
		}
	}
}
