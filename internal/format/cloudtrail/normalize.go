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
func (n *Normalizer) text(v *fastjson.Value, keys ...string) string {
	return format.JSONText(n.get(v, keys...))
}

// textBytes is text without a copy for strings: the bytes stay valid
// until the parser parses the next record.
func (n *Normalizer) textBytes(v *fastjson.Value, keys ...string) []byte {
	return format.JSONBytes(n.get(v, keys...))
}

// get follows a key path. Keys match exactly first and then regardless of
// case, because exports (Athena, some SIEMs) lower-case CloudTrail's keys.
func (n *Normalizer) get(v *fastjson.Value, keys ...string) *fastjson.Value {
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
	et := n.text(v, "eventTime")
	if et == "" {
		return &format.RecordError{Reason: "eventTime is missing: every CloudTrail record has one", Raw: raw}
	}
	ts, err := format.ParseTime(et)
	if err != nil {
		return &format.RecordError{Reason: fmt.Sprintf("eventTime %q is not an RFC 3339 time", et), Raw: raw}
	}
	rec.SetTime(interflow.FTimestamp, ts)
	rec.SetBytes(interflow.FRaw, raw)

	name, source := n.text(v, "eventName"), n.text(v, "eventSource")
	if name == "" {
		name = n.text(v, "insightDetails", "eventName")
	}
	if source == "" {
		source = n.text(v, "insightDetails", "eventSource")
	}
	rec.SetString(interflow.EEventName, name)
	rec.SetString(interflow.EEventSource, source)
	rec.SetBytes(interflow.EEventType, n.textBytes(v, "eventType"))
	rec.SetBytes(interflow.EEventID, n.textBytes(v, "eventID"))
	rec.SetBytes(interflow.EEventCategory, n.textBytes(v, "eventCategory"))
	rec.SetBytes(interflow.EEventVersion, n.textBytes(v, "eventVersion"))
	rec.SetBytes(interflow.FRegion, n.textBytes(v, "awsRegion"))

	ui := n.get(v, "userIdentity")
	if ui != nil && ui.Type() != fastjson.TypeObject {
		ui = nil // a malformed identity: keep the record, without user fields
	}
	acct := n.text(v, "recipientAccountId")
	if acct == "" && ui != nil {
		acct = n.text(ui, "accountId")
	}
	rec.SetString(interflow.FAccountID, acct)

	src := n.text(v, "sourceIPAddress")
	if ip, ok := format.NormalizeIP(src); ok {
		rec.SetString(interflow.FSrcIP, ip)
	} else {
		rec.SetString(interflow.ESrcHost, src)
	}
	if ui != nil {
		rec.SetBytes(interflow.EUserType, n.textBytes(ui, "type"))
		rec.SetBytes(interflow.EUserARN, n.textBytes(ui, "arn"))
		rec.SetBytes(interflow.EUserAccountID, n.textBytes(ui, "accountId"))
		rec.SetBytes(interflow.EUserAccessKeyID, n.textBytes(ui, "accessKeyId"))
		rec.SetString(interflow.EUserName, n.userName(ui))
		setBool(rec, interflow.ESessionMFA, n.text(ui, "sessionContext", "attributes", "mfaAuthenticated"))
	}
	rec.SetBytes(interflow.EUserAgent, n.textBytes(v, "userAgent"))
	rec.SetBytes(interflow.EErrorCode, n.textBytes(v, "errorCode"))
	rec.SetBytes(interflow.EErrorMessage, n.textBytes(v, "errorMessage"))
	rec.SetBytes(interflow.ERequestID, n.textBytes(v, "requestID"))
	setBool(rec, interflow.EReadOnly, n.text(v, "readOnly"))
	setBool(rec, interflow.EMgmtEvent, n.text(v, "managementEvent"))
	return nil
}

// userName picks the most useful name for the actor: the IAM user name, the
// role behind a session, the last part of the ARN, or the invoking service.
func (n *Normalizer) userName(ui *fastjson.Value) string {
	if u := n.text(ui, "userName"); u != "" {
		return u
	}
	if u := n.text(ui, "sessionContext", "sessionIssuer", "userName"); u != "" {
		return u
	}
	if a := n.text(ui, "arn"); a != "" {
		if i := strings.LastIndexAny(a, "/:"); i >= 0 && i+1 < len(a) {
			return a[i+1:]
		}
	}
	if n.text(ui, "type") == "Root" {
		return "root"
	}
	return n.text(ui, "invokedBy")
}

func setBool(rec *interflow.Record, i int, t string) {
	switch strings.ToLower(t) {
	case "true":
		rec.SetBool(i, true)
	case "false":
		rec.SetBool(i, false)
	}
}
