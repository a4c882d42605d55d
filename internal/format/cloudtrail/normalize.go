package cloudtrail

import (
	"fmt"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Normalizer turns CloudTrail records into Interflow records. It reuses its
// parser's memory between records, so one Normalizer serves one goroutine.
type Normalizer struct{ p fastjson.Parser }

// Normalize is a convenience for one-off use (tests, tools).
func Normalize(raw []byte, rec *interflow.Record) error {
	var n Normalizer
	return n.Normalize(raw, rec)
}

// text returns a field as text: strings as is, numbers and booleans as
// written, structures as JSON, because real records mix types in fields
// documented as strings.
func text(v *fastjson.Value, keys ...string) string { return format.JSONText(get(v, keys...)) }

// get follows a key path. Keys match exactly first and then regardless of
// case, because exports (Athena, some SIEMs) lower-case CloudTrail's keys.
func get(v *fastjson.Value, keys ...string) *fastjson.Value {
	for _, k := range keys {
		o, err := v.Object()
		if err != nil {
			return nil
		}
		next := o.Get(k)
		if next == nil {
			o.Visit(func(key []byte, val *fastjson.Value) {
				if next == nil && len(key) == len(k) && strings.EqualFold(string(key), k) {
					next = val
				}
			})
		}
		if next == nil {
			return nil
		}
		v = next
	}
	return v
}

// Normalize fills rec (an aws_events record already stamped with its
// provenance) from one CloudTrail record. A record that cannot be used is a
// *format.RecordError; the rest of the object is unaffected.
func (n *Normalizer) Normalize(raw []byte, rec *interflow.Record) error {
	v, err := format.ParseObject(&n.p, raw)
	if err != nil {
		return err
	}
	et := text(v, "eventTime")
	if et == "" {
		return &format.RecordError{Reason: "eventTime is missing: every CloudTrail record has one", Raw: raw}
	}
	ts, err := format.ParseTime(et)
	if err != nil {
		return &format.RecordError{Reason: fmt.Sprintf("eventTime %q is not an RFC 3339 time", et), Raw: raw}
	}
	rec.SetTime(interflow.FTimestamp, ts)
	rec.SetString(interflow.FRaw, string(raw))

	name, source := text(v, "eventName"), text(v, "eventSource")
	if name == "" {
		name = text(v, "insightDetails", "eventName")
	}
	if source == "" {
		source = text(v, "insightDetails", "eventSource")
	}
	rec.SetString(interflow.EEventName, name)
	rec.SetString(interflow.EEventSource, source)
	rec.SetString(interflow.EEventType, text(v, "eventType"))
	rec.SetString(interflow.EEventID, text(v, "eventID"))
	rec.SetString(interflow.EEventCategory, text(v, "eventCategory"))
	rec.SetString(interflow.EEventVersion, text(v, "eventVersion"))
	rec.SetString(interflow.FRegion, text(v, "awsRegion"))

	ui := get(v, "userIdentity")
	if ui != nil && ui.Type() != fastjson.TypeObject {
		ui = nil // a malformed identity: keep the record, without user fields
	}
	acct := text(v, "recipientAccountId")
	if acct == "" && ui != nil {
		acct = text(ui, "accountId")
	}
	rec.SetString(interflow.FAccountID, acct)

	src := text(v, "sourceIPAddress")
	if ip, ok := format.NormalizeIP(src); ok {
		rec.SetString(interflow.FSrcIP, ip)
	} else {
		rec.SetString(interflow.ESrcHost, src)
	}
	if ui != nil {
		rec.SetString(interflow.EUserType, text(ui, "type"))
		rec.SetString(interflow.EUserARN, text(ui, "arn"))
		rec.SetString(interflow.EUserAccountID, text(ui, "accountId"))
		rec.SetString(interflow.EUserAccessKeyID, text(ui, "accessKeyId"))
		rec.SetString(interflow.EUserName, userName(ui))
		setBool(rec, interflow.ESessionMFA, text(ui, "sessionContext", "attributes", "mfaAuthenticated"))
	}
	rec.SetString(interflow.EUserAgent, text(v, "userAgent"))
	rec.SetString(interflow.EErrorCode, text(v, "errorCode"))
	rec.SetString(interflow.EErrorMessage, text(v, "errorMessage"))
	rec.SetString(interflow.ERequestID, text(v, "requestID"))
	setBool(rec, interflow.EReadOnly, text(v, "readOnly"))
	setBool(rec, interflow.EMgmtEvent, text(v, "managementEvent"))
	return nil
}

// userName picks the most useful name for the actor: the IAM user name, the
// role behind a session, the last part of the ARN, or the invoking service.
func userName(ui *fastjson.Value) string {
	if u := text(ui, "userName"); u != "" {
		return u
	}
	if u := text(ui, "sessionContext", "sessionIssuer", "userName"); u != "" {
		return u
	}
	if a := text(ui, "arn"); a != "" {
		if i := strings.LastIndexAny(a, "/:"); i >= 0 && i+1 < len(a) {
			return a[i+1:]
		}
	}
	if text(ui, "type") == "Root" {
		return "root"
	}
	return text(ui, "invokedBy")
}

func setBool(rec *interflow.Record, i int, t string) {
	switch strings.ToLower(t) {
	case "true":
		rec.SetBool(i, true)
	case "false":
		rec.SetBool(i, false)
	}
}
