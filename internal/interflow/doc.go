package interflow

import (
	"fmt"
	"strings"
)

// Markdown renders docs/interflow.md from the schemas.
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# Interflow: Trawl's normalized record

Every record Trawl stores is an Interflow record in one of two indices.
CloudTrail, AWS WAF, Route 53 Resolver query, Application Load Balancer
access and Amazon S3 server access records and Amazon GuardDuty findings go
to **AWS Events** (` + "`aws_events`" + `); VPC flow
records go to **Traffic** (` + "`traffic`" + `). Field names below are what searches,
log filters, the API and the console use. An absent value is NULL: it matches
no term, so ` + "`NOT field:value`" + ` matches records without the field, and
` + "`field:*`" + ` matches records that have it.

This file is generated from ` + "`internal/interflow`" + `; a test fails when they differ
(regenerate with ` + "`go test ./internal/interflow -update`" + `).

Types: ` + "`string`" + ` (exact, case-sensitive match; ` + "`*`" + ` and ` + "`?`" + ` wildcards),
` + "`int`" + ` (numbers, ranges, comparisons), ` + "`double`" + ` (decimal numbers, ranges,
comparisons), ` + "`bool`" + ` (true/false),
` + "`timestamp`" + ` (UTC; RFC 3339 in queries), ` + "`ip`" + ` (an address or a CIDR block,
IPv4 or IPv6).

Fixed values: ` + "`msg_origin.source`" + ` is ` + "`cloudtrail`" + ` and ` + "`msg_origin.vendor`" + ` is ` + "`aws`" + `
for every record; ` + "`msg_class`" + ` is ` + "`cloudtrail`" + `, ` + "`aws_waf`" + `, ` + "`vpcflow`" + `,
` + "`route53_resolver`" + `, ` + "`alb`" + `, ` + "`s3access`" + ` or ` + "`guardduty`" + `;
` + "`msg_origin.category`" + ` is ` + "`waf`" + ` for WAF and ` + "`paas`" + ` otherwise.

GuardDuty exports a finding again each time it is updated (new occurrences
aggregate into the same finding, with the same ` + "`finding.id`" + ` and a greater
` + "`finding.count`" + `): each export is a record of its own, stamped with the
finding's ` + "`updatedAt`" + `. A finding's history is ` + "`finding.id:<id>`" + `; search
results come newest first, so its first record is its latest version.
`)
	for _, s := range Schemas() {
		title := map[string]string{IndexEvents: "AWS Events (`aws_events`): CloudTrail, WAF, Route 53 Resolver, ALB, S3 server access and GuardDuty", IndexTraffic: "Traffic (`traffic`): VPC Flow Logs"}[s.Index]
		fmt.Fprintf(&b, "\n## %s\n\n| field | type | source |\n|---|---|---|\n", title)
		for _, f := range s.Fields {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, f.Type, strings.ReplaceAll(f.Source, "|", "\\|"))
		}
	}
	return b.String()
}
