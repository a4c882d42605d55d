// Package r53resolver decodes Route 53 Resolver (VPC Resolver) query logs
// as AWS delivers them to S3: one JSON document per line, gzip-compressed,
// under AWSLogs/<account>/vpcdnsquerylogs/<vpc-id>/YYYY/MM/DD/, and
// normalizes each to Interflow. The fields are AWS's "Values that appear
// in VPC Resolver query logs" (resolver-query-logs-format), version 1.1.
package r53resolver

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Class is the records' msg_class.
const Class = "route53_resolver"

// MaxLine caps one record's line; a longer line is quarantined, not
// buffered (a query log record is well under a kilobyte).
const MaxLine = 256 << 10

// Decoder reads query log records from one object: one JSON document per
// line, as AWS writes them, so a damaged line is quarantined on its own
// and the lines after it are read.
type Decoder struct {
	*format.Lines
	p fastjson.Parser
}

// NewDecoder returns a decoder over a decompressed object.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{Lines: format.NewLines(r, MaxLine)} }

func str(v *fastjson.Value, keys ...string) string { return format.JSONText(v.Get(keys...)) }

// Normalize fills rec (an aws_events record stamped with its provenance)
// from one query log record.
func (d *Decoder) Normalize(raw []byte, rec *interflow.Record) error {
	if d.Cut() {
		return &format.RecordError{Reason: fmt.Sprintf("the line is longer than %d KiB: a Route 53 Resolver query log record is one short JSON line", MaxLine>>10), Raw: raw}
	}
	v, err := format.ParseObject(&d.p, raw)
	if err != nil {
		return err
	}
	ts := str(v, "query_timestamp")
	if ts == "" {
		return &format.RecordError{Reason: "query_timestamp is missing: every Route 53 Resolver query log record has one (ISO 8601, UTC)", Raw: raw}
	}
	t, err := format.ParseTime(ts)
	if err != nil {
		return &format.RecordError{Reason: fmt.Sprintf("query_timestamp %q is not an ISO 8601 time", ts), Raw: raw}
	}
	name := str(v, "query_name")
	if name == "" {
		return &format.RecordError{Reason: "query_name is missing: every Route 53 Resolver query log record names the query", Raw: raw}
	}
	rec.SetTime(interflow.FTimestamp, t)
	rec.SetString(interflow.FRaw, string(raw))
	rec.SetString(interflow.FAccountID, str(v, "account_id"))
	rec.SetString(interflow.FRegion, str(v, "region"))
	rec.SetString(interflow.EVPCID, str(v, "vpc_id"))
	rec.SetString(interflow.EEventVersion, str(v, "version"))
	if ip, ok := format.NormalizeIP(str(v, "srcaddr")); ok {
		rec.SetString(interflow.FSrcIP, ip)
	}
	// srcport is a string in AWS's example ("56067"); a number is read too.
	if p, err := strconv.ParseInt(str(v, "srcport"), 10, 64); err == nil && p >= 0 && p <= 65535 {
		rec.SetInt(interflow.ESrcPort, p)
	}
	rec.SetString(interflow.EInstanceID, str(v, "srcids", "instance"))
	rec.SetString(interflow.EDNSQuestionName, name)
	rec.SetString(interflow.EDNSQuestionType, str(v, "query_type"))
	rec.SetString(interflow.EDNSQuestionClass, str(v, "query_class"))
	rec.SetString(interflow.EDNSResponseCode, str(v, "rcode"))
	var answers []string
	for _, a := range v.GetArray("answers") {
		if rd := str(a, "Rdata"); rd != "" {
			answers = append(answers, rd)
		}
	}
	rec.SetList(interflow.EDNSAnswers, answers)
	action := strings.ToUpper(str(v, "firewall_rule_action"))
	rec.SetString(interflow.EDNSFirewallAction, action)
	rec.SetString(interflow.FAction, action)
	rec.SetString(interflow.EDNSFirewallRuleGroup, str(v, "firewall_rule_group_id"))
	return nil
}
