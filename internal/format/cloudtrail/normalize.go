package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
)

// text accepts a JSON string, number or boolean, because real records mix
// types in fields documented as strings.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
		return nil
	}
	if b[0] == '{' || b[0] == '[' {
		// A structured value where text was expected: keep it as JSON.
		*t = text(b)
		return nil
	}
	*t = text(b)
	return nil
}

type record struct {
	EventVersion       text `json:"eventVersion"`
	EventTime          text `json:"eventTime"`
	EventSource        text `json:"eventSource"`
	EventName          text `json:"eventName"`
	AWSRegion          text `json:"awsRegion"`
	SourceIPAddress    text `json:"sourceIPAddress"`
	UserAgent          text `json:"userAgent"`
	ErrorCode          text `json:"errorCode"`
	ErrorMessage       text `json:"errorMessage"`
	RequestID          text `json:"requestID"`
	EventID            text `json:"eventID"`
	EventType          text `json:"eventType"`
	EventCategory      text `json:"eventCategory"`
	RecipientAccountID text `json:"recipientAccountId"`
	ReadOnly           text `json:"readOnly"`
	ManagementEvent    text `json:"managementEvent"`
	UserIdentity       struct {
		Type           text `json:"type"`
		PrincipalID    text `json:"principalId"`
		ARN            text `json:"arn"`
		AccountID      text `json:"accountId"`
		AccessKeyID    text `json:"accessKeyId"`
		UserName       text `json:"userName"`
		InvokedBy      text `json:"invokedBy"`
		SessionContext struct {
			SessionIssuer struct {
				UserName text `json:"userName"`
				ARN      text `json:"arn"`
			} `json:"sessionIssuer"`
			Attributes struct {
				MFAAuthenticated text `json:"mfaAuthenticated"`
			} `json:"attributes"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	InsightDetails struct {
		EventName   text `json:"eventName"`
		EventSource text `json:"eventSource"`
	} `json:"insightDetails"`
}

// Normalize fills rec (an aws_events record already stamped with its
// provenance) from one CloudTrail record. A record that cannot be used is a
// *format.RecordError.
func Normalize(raw []byte, rec interflow.Record) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return &format.RecordError{Reason: "record is not a JSON object: each element of Records must be {...}", Raw: raw}
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return &format.RecordError{Reason: fmt.Sprintf("record is not a JSON object: %v", err), Raw: raw}
		}
		// A structured value where a struct was expected (e.g. a string
		// userIdentity): the other fields were still decoded.
	}
	if r.EventTime == "" {
		return &format.RecordError{Reason: "eventTime is missing: every CloudTrail record has one", Raw: raw}
	}
	ts, err := format.ParseTime(string(r.EventTime))
	if err != nil {
		return &format.RecordError{Reason: fmt.Sprintf("eventTime %q is not an RFC 3339 time", string(r.EventTime)), Raw: raw}
	}
	v := rec.Vals
	v[interflow.FTimestamp] = ts.UTC()
	v[interflow.FRaw] = string(raw)

	name, source := string(r.EventName), string(r.EventSource)
	if name == "" {
		name = string(r.InsightDetails.EventName)
	}
	if source == "" {
		source = string(r.InsightDetails.EventSource)
	}
	rec.SetString(interflow.EEventName, name)
	rec.SetString(interflow.EEventSource, source)
	rec.SetString(interflow.EEventType, string(r.EventType))
	rec.SetString(interflow.EEventID, string(r.EventID))
	rec.SetString(interflow.EEventCategory, string(r.EventCategory))
	rec.SetString(interflow.EEventVersion, string(r.EventVersion))
	rec.SetString(interflow.FRegion, string(r.AWSRegion))
	acct := string(r.RecipientAccountID)
	if acct == "" {
		acct = string(r.UserIdentity.AccountID)
	}
	rec.SetString(interflow.FAccountID, acct)

	if ip, ok := format.NormalizeIP(string(r.SourceIPAddress)); ok {
		v[interflow.FSrcIP] = ip
	} else {
		rec.SetString(interflow.ESrcHost, string(r.SourceIPAddress))
	}
	u := &r.UserIdentity
	rec.SetString(interflow.EUserType, string(u.Type))
	rec.SetString(interflow.EUserARN, string(u.ARN))
	rec.SetString(interflow.EUserAccountID, string(u.AccountID))
	rec.SetString(interflow.EUserAccessKeyID, string(u.AccessKeyID))
	rec.SetString(interflow.EUserName, userName(&r))
	rec.SetString(interflow.EUserAgent, string(r.UserAgent))
	rec.SetString(interflow.EErrorCode, string(r.ErrorCode))
	rec.SetString(interflow.EErrorMessage, string(r.ErrorMessage))
	rec.SetString(interflow.ERequestID, string(r.RequestID))
	setBool(rec, interflow.EReadOnly, r.ReadOnly)
	setBool(rec, interflow.EMgmtEvent, r.ManagementEvent)
	setBool(rec, interflow.ESessionMFA, u.SessionContext.Attributes.MFAAuthenticated)
	return nil
}

func userName(r *record) string {
	u := &r.UserIdentity
	if u.UserName != "" {
		return string(u.UserName)
	}
	if n := u.SessionContext.SessionIssuer.UserName; n != "" {
		return string(n)
	}
	if u.ARN != "" {
		a := string(u.ARN)
		if i := strings.LastIndexAny(a, "/:"); i >= 0 && i+1 < len(a) {
			return a[i+1:]
		}
	}
	if u.Type == "Root" {
		return "root"
	}
	return string(u.InvokedBy)
}

func setBool(rec interflow.Record, i int, t text) {
	switch strings.ToLower(string(t)) {
	case "true":
		rec.Vals[i] = true
	case "false":
		rec.Vals[i] = false
	}
}
