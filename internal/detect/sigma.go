// Package detect reads detection rules written in Sigma, the common
// language of detection rules, and compiles each into Trawl's one query
// representation (internal/query): the same tree the search box parses,
// the log filters evaluate in memory and the lake runs as SQL. So a rule
// and a search of its condition agree by construction, and every rule has
// a hunting query (query.Format of its tree) that finds what it matched.
//
// Values mean what the Sigma specification says: matched regardless of
// case unless |cased (the query's field:~value), * and ? wildcards,
// contains/startswith/endswith/all, re with its i, m and s flags, cidr,
// exists, null (absent or JSON null) apart from an empty value (""), fieldref
// (field:@other), base64, base64offset and windash. Field names are the
// logs' own (CloudTrail's eventName, VPC flow's srcaddr, WAF's
// httpRequest.clientIp) or Interflow's. A CloudTrail field whose
// Interflow field is its value as written (errorCode, userAgent,
// userIdentity.arn, ...) is read from it; every other path, and one whose
// Interflow field is derived (eventName, sourceIPAddress, ...), from the
// raw record (raw.requestParameters.x), where an object matches as its
// JSON text and a list by any element.
//
// A detection has named selections (maps AND their fields, lists OR
// their items, a list of strings is keywords: the text anywhere in the
// record), a condition with and/or/not, parentheses, "1 of"/"all of" a
// name pattern or "them", and at most one count aggregation
// ("| count() by srcip > 5", "| count(dstport) by srcip > 20") over a
// timeframe. What Trawl cannot honour (near, correlation rules, expand
// placeholders, a timeframe without a count, the UTF-16 and time
// modifiers, lt/lte/gt/gte on a field Trawl holds as text) is refused with
// its line and the construct named. lt, lte, gt and gte compare a number
// field (finding.severity, http.response_code, dstport...) by order.
package detect

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trawlhq/trawl/internal/query"
)

// Rule is a compiled Sigma rule.
type Rule struct {
	Title       string
	ID          string
	Level       string // informational, low, medium, high or critical
	Description string
	Logsource   Logsource
	// Query selects the events the rule is about.
	Query query.Node
	// Count, when set, raises an alert only when a group of events within
	// Timeframe passes its threshold; nil: every matching event alerts.
	Count     *Count
	Timeframe time.Duration
}

// Logsource says which logs a rule is about.
type Logsource struct{ Product, Service, Category string }

// Count is a rule's aggregation: count(Field) by GroupBy Op Threshold.
// Field "" counts events; a field counts its distinct values.
type Count struct {
	Field     string
	GroupBy   string
	Op        string // >, >=, <, <=, ==
	Threshold int64
}

// Hunt is the search that finds the rule's events.
func (r *Rule) Hunt() string { return query.Format(r.Query) }

// Error is a rule refused, with the line of the YAML it concerns.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return "sigma rule: " + e.Msg
	}
	return fmt.Sprintf("sigma rule: line %d: %s", e.Line, e.Msg)
}

func errAt(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Limits keep a hostile rule from costing more than a search may.
const (
	MaxRuleBytes = 64 << 10
	maxValues    = 512
)

var levels = map[string]bool{"informational": true, "low": true, "medium": true, "high": true, "critical": true}

// Parse reads and compiles one Sigma rule.
func Parse(src []byte) (*Rule, error) {
	if len(src) > MaxRuleBytes {
		return nil, &Error{Msg: fmt.Sprintf("the rule is %d bytes; at most %d", len(src), MaxRuleBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, yamlError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{Line: 1, Msg: "a rule is a YAML mapping with title, level, logsource and detection"}
	}
	top := doc.Content[0]
	r := &Rule{}
	var detection *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "title":
			r.Title = v.Value
		case "id":
			r.ID = v.Value
		case "level":
			r.Level = strings.ToLower(v.Value)
			if !levels[r.Level] {
				return nil, errAt(v, "level %q: write informational, low, medium, high or critical", v.Value)
			}
		case "description":
			r.Description = v.Value
		case "logsource":
			if v.Kind != yaml.MappingNode {
				return nil, errAt(v, "logsource is a mapping (product, service, category)")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				switch v.Content[j].Value {
				case "product":
					r.Logsource.Product = v.Content[j+1].Value
				case "service":
					r.Logsource.Service = v.Content[j+1].Value
				case "category":
					r.Logsource.Category = v.Content[j+1].Value
				}
			}
		case "detection":
			detection = v
		case "correlation":
			return nil, errAt(k, "correlation rules (Sigma's meta-rules over other rules' matches) are not supported: Trawl evaluates single-event rules and count rules")
		}
	}
	if strings.TrimSpace(r.Title) == "" {
		return nil, errAt(top, "the rule has no title")
	}
	if r.Level == "" {
		r.Level = "medium"
	}
	if detection == nil {
		return nil, errAt(top, "the rule has no detection")
	}
	if err := r.compile(detection); err != nil {
		return nil, err
	}
	return r, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlError(err error) error {
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return &Error{Line: line, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// compile turns the detection section into the rule's query and count.
func (r *Rule) compile(det *yaml.Node) error {
	if det.Kind != yaml.MappingNode {
		return errAt(det, "detection is a mapping of named selections and a condition")
	}
	searches := map[string]query.Node{}
	var cond, timeframe *yaml.Node
	for i := 0; i+1 < len(det.Content); i += 2 {
		k, v := det.Content[i], det.Content[i+1]
		switch k.Value {
		case "condition":
			cond = v
		case "timeframe":
			timeframe = v
			d, err := sigmaDuration(v.Value)
			if err != nil {
				return errAt(v, "timeframe %q: %v", v.Value, err)
			}
			r.Timeframe = d
		default:
			n, err := search(v, logsource(r.Logsource.Service))
			if err != nil {
				return err
			}
			searches[k.Value] = n
		}
	}
	if cond == nil {
		return errAt(det, "detection has no condition")
	}
	if len(searches) == 0 {
		return errAt(det, "detection has no selection for the condition to name")
	}
	text := cond.Value
	if cond.Kind == yaml.SequenceNode {
		// Several conditions are alternatives.
		var parts []string
		for _, c := range cond.Content {
			parts = append(parts, "("+c.Value+")")
		}
		text = strings.Join(parts, " or ")
	}
	q, count, err := parseCondition(text, searches)
	if err != nil {
		var ce *condError
		if errors.As(err, &ce) {
			return errAt(cond, "condition %q at %d: %s", text, ce.pos+1, ce.msg)
		}
		return errAt(cond, "condition %q: %v", text, err)
	}
	r.Query, r.Count = scopeToService(r.Logsource.Service, q), count
	if count != nil && r.Timeframe == 0 {
		return errAt(cond, "a count condition needs a timeframe in detection (for example timeframe: 10m)")
	}
	if count == nil && timeframe != nil {
		// Sigma's condition holds for one event; a timeframe only scopes
		// an aggregation. Without one, a rule written with a timeframe
		// means events together (a correlation), which Trawl does not
		// evaluate: dropping the timeframe would change what it means.
		return errAt(timeframe, "timeframe without a count: a condition holds for one event, and a timeframe only scopes an aggregation (| count() ... > n); Trawl does not correlate events across a timeframe: remove the timeframe or add a count")
	}
	if count != nil {
		for _, f := range []string{count.Field, count.GroupBy} {
			if f == "" {
				continue
			}
			m, ok := countField(f, logsource(r.Logsource.Service))
			if !ok {
				return errAt(cond, "count field %q has no Trawl field; %s", f, fieldHint)
			}
			if f == count.Field {
				count.Field = m
			} else {
				count.GroupBy = m
			}
		}
	}
	return nil
}

func sigmaDuration(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, errors.New("write a number and s, m, h or d (10m)")
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, errors.New("write a positive number and s, m, h or d (10m)")
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, errors.New("the unit is s, m, h or d")
	}
	if d := time.Duration(n) * unit; d <= 7*24*time.Hour {
		return d, nil
	}
	return 0, errors.New("at most 7d")
}

// search compiles one named selection: a mapping ANDs its fields, a list
// ORs its items (mappings, or strings matched as free text).
func search(v *yaml.Node, ls logsource) (query.Node, error) {
	switch v.Kind {
	case yaml.MappingNode:
		var out query.Node
		for i := 0; i+1 < len(v.Content); i += 2 {
			n, err := fieldMatch(v.Content[i], v.Content[i+1], ls)
			if err != nil {
				return nil, err
			}
			out = and(out, n)
		}
		if out == nil {
			return nil, errAt(v, "an empty selection matches nothing: give it a field")
		}
		return out, nil
	case yaml.SequenceNode:
		var out query.Node
		for _, item := range v.Content {
			var n query.Node
			var err error
			if item.Kind == yaml.ScalarNode {
				n, err = keyword(item)
			} else {
				n, err = search(item, ls)
			}
			if err != nil {
				return nil, err
			}
			out = or(out, n)
		}
		if out == nil {
			return nil, errAt(v, "an empty list matches nothing")
		}
		return out, nil
	case yaml.ScalarNode:
		return keyword(v)
	}
	return nil, errAt(v, "a selection is a mapping of fields or a list")
}

// keyword compiles a Sigma keyword: the value anywhere in the record's
// text, regardless of case, with its wildcards (free text *value*).
func keyword(v *yaml.Node) (query.Node, error) {
	if v.Tag == "!!null" || v.Value == "" {
		return nil, errAt(v, "an empty keyword matches everything: remove it")
	}
	w, _ := sigmaValue(v.Value)
	return query.Term{Op: "=", Value: "\x00*" + w + "\x00*", Wildcard: true}, nil
}

func and(l, r query.Node) query.Node {
	if l == nil {
		return r
	}
	return query.And{L: l, R: r}
}

func or(l, r query.Node) query.Node {
	if l == nil {
		return r
	}
	return query.Or{L: l, R: r}
}

// scopeToService narrows a rule's query to the records of its logsource
// service, as Sigma means it: a CloudTrail rule is about CloudTrail
// records, not the WAF records that share the AWS Events index (a rule on
// a mapped field such as sourceIPAddress matched WAF records of that
// address). The typed msg_class term also spares the other records the
// rule's raw.<path> terms, which parse each record's JSON: evaluating the
// CloudTrail rules over 105 MB of WAF records took 19 s of a 21 s
// `trawl collect --once`.
func scopeToService(service string, q query.Node) query.Node {
	class := map[string]string{"cloudtrail": "cloudtrail", "waf": "aws_waf", "vpcflow": "vpcflow", "route53": "route53_resolver", "alb": "alb", "s3access": "s3access", "guardduty": "guardduty"}[service]
	if class == "" {
		return q
	}
	return query.And{L: query.Term{Field: "msg_class", Op: "=", Value: class, Quoted: true}, R: q}
}
