// Package client talks to Trawl's HTTP API in its wire types (apiv1). The
// CLI always goes through it: to a running `trawl serve`, or to the same
// API served in-process over a directory no server holds, so commands
// behave the same either way. It links no storage (TestWireNeedsNoStorage).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/query"
)

// Client is an API client.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for base (http://127.0.0.1:8080) with a token.
func New(base, token string) *Client {
	return &Client{base: base, token: token, http: &http.Client{}}
}

// NewWith returns a client that sends its requests through hc (the CLI's
// in-process server is reached over an in-memory pipe).
func NewWith(base, token string, hc *http.Client) *Client {
	return &Client{base: base, token: token, http: hc}
}

// APIError is an error answered by the server.
type APIError struct {
	Status   int
	Code     string              `json:"code"`
	Message  string              `json:"message"`
	Field    string              `json:"field"`
	Position *int                `json:"position"`
	Problems []connector.Problem `json:"problems"`
}

func (e *APIError) Error() string {
	// The server's message names what was refused (a connector, a rule,
	// a webhook, public keys); the problems alone do not.
	if len(e.Problems) > 0 && e.Message == "" {
		return (&connector.ValidationError{Problems: e.Problems}).Error()
	}
	return e.Message
}

func (c *Client) do(ctx context.Context, method, path string, in, out any, hdr ...string) (http.Header, error) {
	var body io.Reader
	if in != nil {
		var b []byte
		var err error
		if c, ok := in.(*connector.Connector); ok {
			b, err = c.MarshalRequest() // json.Marshal would send the mask
		} else {
			b, err = json.Marshal(in)
		}
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trawl server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error APIError `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		e.Error.Status = resp.StatusCode
		if e.Error.Message == "" && len(e.Error.Problems) == 0 {
			// Not our API's answer (a proxy's page): the status says it.
			e.Error.Message = resp.Status
		}
		return resp.Header, &e.Error
	}
	if w, ok := out.(io.Writer); ok {
		// A streamed body (an export) is copied as it arrives.
		if _, err := io.Copy(w, resp.Body); err != nil {
			return resp.Header, fmt.Errorf("%s %s: the transfer broke: %w", method, path, err)
		}
		return resp.Header, nil
	}
	if out != nil && resp.StatusCode != 204 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.Header, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// Healthy reports whether a server answers at base.
func Healthy(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// CreateConnector creates a connector.
func (c *Client) CreateConnector(ctx context.Context, in connector.Connector) (*connector.Connector, error) {
	var out connector.Connector
	_, err := c.do(ctx, "POST", "/api/v1/connectors", &in, &out)
	return &out, err
}

// ListConnectors lists connectors.
func (c *Client) ListConnectors(ctx context.Context, tenant string) ([]connector.Connector, error) {
	var out struct {
		Connectors []connector.Connector `json:"connectors"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/connectors?tenant="+url.QueryEscape(tenant), nil, &out)
	return out.Connectors, err
}

// UpdateConnector replaces a connector's editable fields.
func (c *Client) UpdateConnector(ctx context.Context, id string, in connector.Connector, version int64) (*connector.Connector, error) {
	var out connector.Connector
	_, err := c.do(ctx, "PUT", "/api/v1/connectors/"+url.PathEscape(id), &in, &out, "If-Match", `"`+strconv.FormatInt(version, 10)+`"`)
	return &out, err
}

// DeleteConnector deletes a connector.
func (c *Client) DeleteConnector(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/api/v1/connectors/"+url.PathEscape(id), nil, nil)
	return err
}

// SetEnabled enables or disables a connector.
func (c *Client) SetEnabled(ctx context.Context, id string, on bool) error {
	verb := "disable"
	if on {
		verb = "enable"
	}
	_, err := c.do(ctx, "POST", "/api/v1/connectors/"+url.PathEscape(id)+"/"+verb, nil, nil)
	return err
}

// Status returns a connector's status.
func (c *Client) Status(ctx context.Context, id string) (*apiv1.Status, error) {
	var out apiv1.Status
	_, err := c.do(ctx, "GET", "/api/v1/connectors/"+url.PathEscape(id)+"/status", nil, &out)
	return &out, err
}

// Collect runs a collection pass.
func (c *Client) Collect(ctx context.Context, ids []string, from, to string) ([]*apiv1.RunResult, error) {
	var out struct {
		Results []*apiv1.RunResult `json:"results"`
	}
	in := map[string]any{"ids": ids}
	if from != "" {
		in["from"] = from
	}
	if to != "" {
		in["to"] = to
	}
	_, err := c.do(ctx, "POST", "/api/v1/collect", in, &out)
	return out.Results, err
}

// SearchParams mirror the CLI flags.
type SearchParams struct {
	Indices  []string
	Tenant   string
	From, To string
	Query    string
	Limit    int
	Cursor   *apiv1.Cursor
}

func (p SearchParams) values() url.Values {
	v := url.Values{}
	for _, ix := range p.Indices {
		v.Add("index", ix)
	}
	if p.Tenant != "" {
		v.Set("tenant", p.Tenant)
	}
	if p.From != "" {
		v.Set("from", p.From)
	}
	if p.To != "" {
		v.Set("to", p.To)
	}
	v.Set("q", p.Query)
	if p.Limit > 0 {
		v.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != nil {
		b, _ := json.Marshal(p.Cursor)
		v.Set("cursor", string(b))
	}
	return v
}

// Search searches.
func (c *Client) Search(ctx context.Context, p SearchParams) (*apiv1.SearchResult, error) {
	var out apiv1.SearchResult
	_, err := c.do(ctx, "GET", "/api/v1/search?"+p.values().Encode(), nil, &out)
	return &out, err
}

// Export streams every matching record to w as CSV or NDJSON.
func (c *Client) Export(ctx context.Context, p SearchParams, format string, columns []string, w io.Writer) error {
	v := p.values()
	v.Del("limit")
	v.Set("format", format)
	if len(columns) > 0 {
		v.Set("columns", strings.Join(columns, ","))
	}
	_, err := c.do(ctx, "GET", "/api/v1/export?"+v.Encode(), nil, w)
	return err
}

// Count counts.
func (c *Client) Count(ctx context.Context, p SearchParams) (int64, error) {
	var out struct {
		Count int64 `json:"count"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/count?"+p.values().Encode(), nil, &out)
	return out.Count, err
}

// Quarantine lists quarantined items.
func (c *Client) Quarantine(ctx context.Context, tenant, connectorID string, limit int) ([]apiv1.QuarantineItem, error) {
	var out struct {
		Items []apiv1.QuarantineItem `json:"items"`
	}
	v := url.Values{"tenant": {tenant}, "connector_id": {connectorID}, "limit": {strconv.Itoa(limit)}}
	_, err := c.do(ctx, "GET", "/api/v1/quarantine?"+v.Encode(), nil, &out)
	return out.Items, err
}

// RetryQuarantine reprocesses a connector's quarantine.
func (c *Client) RetryQuarantine(ctx context.Context, id string) (*apiv1.RetryResult, error) {
	var out apiv1.RetryResult
	_, err := c.do(ctx, "POST", "/api/v1/connectors/"+url.PathEscape(id)+"/quarantine/retry", nil, &out)
	return &out, err
}

// Test runs a connector's connection test.
func (c *Client) Test(ctx context.Context, id string) (*apiv1.ConnectionCheck, error) {
	var out apiv1.ConnectionCheck
	_, err := c.do(ctx, "POST", "/api/v1/connectors/"+url.PathEscape(id)+"/test", nil, &out)
	return &out, err
}

// Policy fetches the IAM policies a connector needs.
func (c *Client) Policy(ctx context.Context, id string, opt awspolicy.Options) (*awspolicy.Policies, error) {
	q := url.Values{}
	if opt.KMSKeyARN != "" {
		q.Set("kms_key_arn", opt.KMSKeyARN)
	}
	if opt.Principal != "" {
		q.Set("principal", opt.Principal)
	}
	if opt.QueueKMSKeyARN != "" {
		q.Set("queue_kms_key_arn", opt.QueueKMSKeyARN)
	}
	var out awspolicy.Policies
	_, err := c.do(ctx, "GET", "/api/v1/connectors/"+url.PathEscape(id)+"/policy?"+q.Encode(), nil, &out)
	return &out, err
}

// AuditDigests runs a CloudTrail connector's digest audit over [from, to)
// and gives its results to fn a page at a time: the POST that runs it
// answers the first page, GETs with the page's cursor the others.
func (c *Client) AuditDigests(ctx context.Context, id, from, to string, fn func([]apiv1.AuditResult) error) error {
	// One period for every page: a relative time read again later would
	// move.
	now := time.Now()
	q := url.Values{}
	for name, v := range map[string]string{"from": from, "to": to} {
		if t, err := query.ParseTime(v, now); err == nil && !t.IsZero() {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		q.Set(name, v)
	}
	path := "/api/v1/connectors/" + url.PathEscape(id) + "/audit?"
	method := "POST"
	for {
		var page apiv1.AuditPage
		if _, err := c.do(ctx, method, path+q.Encode(), nil, &page); err != nil {
			return err
		}
		if err := fn(page.Results); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		method = "GET"
		q.Set("cursor", page.Next)
	}
}

// ImportPublicKeys gives the server CloudTrail public keys (the JSON of aws
// cloudtrail list-public-keys).
func (c *Client) ImportPublicKeys(ctx context.Context, data []byte) (int, error) {
	var out struct {
		Imported int `json:"imported"`
	}
	_, err := c.do(ctx, "POST", "/api/v1/public-keys", json.RawMessage(data), &out)
	return out.Imported, err
}

// Alerts lists the alerts raised by the detection rules.
func (c *Client) Alerts(ctx context.Context, f apiv1.AlertFilter, since string) ([]apiv1.Alert, error) {
	v := url.Values{}
	for k, x := range map[string]string{"since": since, "level": f.Level, "tenant": f.Tenant, "rule_id": f.RuleID, "status": f.Status} {
		if x != "" {
			v.Set(k, x)
		}
	}
	var out struct {
		Alerts []apiv1.Alert `json:"alerts"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/alerts?"+v.Encode(), nil, &out)
	return out.Alerts, err
}

// UpdateAlert triages an alert: its status (with a reason when closed),
// assignee, or a note to append.
func (c *Client) UpdateAlert(ctx context.Context, id string, in apiv1.AlertUpdate) (*apiv1.Alert, error) {
	var out apiv1.Alert
	_, err := c.do(ctx, "PATCH", "/api/v1/alerts/"+url.PathEscape(id), in, &out)
	return &out, err
}

// RunRule evaluates a tenant's rule over [from, to) (at most 31 days a
// call; RFC 3339 times).
func (c *Client) RunRule(ctx context.Context, tenant, id string, from, to time.Time) (*apiv1.RuleRun, error) {
	var out apiv1.RuleRun
	in := map[string]string{"tenant": tenant, "from": from.UTC().Format(time.RFC3339Nano), "to": to.UTC().Format(time.RFC3339Nano)}
	_, err := c.do(ctx, "POST", "/api/v1/rules/"+url.PathEscape(id)+"/run", in, &out)
	return &out, err
}

// AddRuleException excludes what q matches from a tenant's rule.
func (c *Client) AddRuleException(ctx context.Context, tenant, id, q, reason string) (*apiv1.RuleException, error) {
	var out apiv1.RuleException
	_, err := c.do(ctx, "POST", "/api/v1/rules/"+url.PathEscape(id)+"/exceptions", map[string]string{"tenant": tenant, "query": q, "reason": reason}, &out)
	return &out, err
}

// DeleteRuleException removes a tenant's exception from a rule.
func (c *Client) DeleteRuleException(ctx context.Context, tenant, id, exceptionID string) error {
	_, err := c.do(ctx, "DELETE", "/api/v1/rules/"+url.PathEscape(id)+"/exceptions/"+url.PathEscape(exceptionID)+"?tenant="+url.QueryEscape(tenant), nil, nil)
	return err
}

// Rules lists a tenant's detection rules.
func (c *Client) Rules(ctx context.Context, tenant string) ([]apiv1.RuleInfo, error) {
	var out struct {
		Rules []apiv1.RuleInfo `json:"rules"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/rules?tenant="+url.QueryEscape(tenant), nil, &out)
	return out.Rules, err
}

// AddRule adds a Sigma rule to a tenant.
func (c *Client) AddRule(ctx context.Context, tenant string, yaml []byte) (*apiv1.RuleInfo, error) {
	var out apiv1.RuleInfo
	_, err := c.do(ctx, "POST", "/api/v1/rules", map[string]string{"tenant": tenant, "yaml": string(yaml)}, &out)
	return &out, err
}

// SetRuleEnabled switches a tenant's rule on or off.
func (c *Client) SetRuleEnabled(ctx context.Context, tenant, id string, on bool) error {
	verb := "disable"
	if on {
		verb = "enable"
	}
	_, err := c.do(ctx, "POST", "/api/v1/rules/"+url.PathEscape(id)+"/"+verb+"?tenant="+url.QueryEscape(tenant), nil, nil)
	return err
}

// DeleteRule deletes a tenant's own rule.
func (c *Client) DeleteRule(ctx context.Context, tenant, id string) error {
	_, err := c.do(ctx, "DELETE", "/api/v1/rules/"+url.PathEscape(id)+"?tenant="+url.QueryEscape(tenant), nil, nil)
	return err
}

// SetWebhook sets (url "" clears) a tenant's alert webhook.
func (c *Client) SetWebhook(ctx context.Context, tenant, u string) error {
	_, err := c.do(ctx, "PUT", "/api/v1/webhook", map[string]string{"tenant": tenant, "url": u}, nil)
	return err
}

// SetWebhookWithStatusChanges sets a tenant's alert webhook and whether it
// also receives the alerts' triage changes.
func (c *Client) SetWebhookWithStatusChanges(ctx context.Context, tenant, u string, on bool) error {
	_, err := c.do(ctx, "PUT", "/api/v1/webhook", map[string]any{"tenant": tenant, "url": u, "status_changes": on}, nil)
	return err
}

// WebhookStatusChanges reports whether a tenant's webhook receives triage
// changes.
func (c *Client) WebhookStatusChanges(ctx context.Context, tenant string) (bool, error) {
	var out struct {
		On bool `json:"status_changes"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/webhook?tenant="+url.QueryEscape(tenant), nil, &out)
	return out.On, err
}

// Retention returns the retention settings the token sees (tenant
// narrows root's).
func (c *Client) Retention(ctx context.Context, tenant string) (*apiv1.RetentionReport, error) {
	var out apiv1.RetentionReport
	_, err := c.do(ctx, "GET", "/api/v1/retention?tenant="+url.QueryEscape(tenant), nil, &out)
	return &out, err
}

// SetRetention sets a retention and returns the settings after it.
func (c *Client) SetRetention(ctx context.Context, in apiv1.RetentionChange) (*apiv1.RetentionReport, error) {
	var out apiv1.RetentionReport
	_, err := c.do(ctx, "PUT", "/api/v1/retention", in, &out)
	return &out, err
}

// GetWebhook returns a tenant's alert webhook.
func (c *Client) GetWebhook(ctx context.Context, tenant string) (string, error) {
	var out struct {
		URL string `json:"url"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/webhook?tenant="+url.QueryEscape(tenant), nil, &out)
	return out.URL, err
}

// EvaluateRules has the server evaluate the detection rules now (root).
func (c *Client) EvaluateRules(ctx context.Context) (*apiv1.EvaluationReport, error) {
	var out apiv1.EvaluationReport
	_, err := c.do(ctx, "POST", "/api/v1/alerts/evaluate", nil, &out)
	return &out, err
}

// Nodes lists the nodes sharing the server's catalog (root).
func (c *Client) Nodes(ctx context.Context) ([]apiv1.NodeInfo, error) {
	var out struct {
		Nodes []apiv1.NodeInfo `json:"nodes"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/nodes", nil, &out)
	return out.Nodes, err
}

// ExternalID fetches a tenant's generated sts:ExternalId.
func (c *Client) ExternalID(ctx context.Context, tenant string) (string, error) {
	var out struct {
		ExternalID string `json:"external_id"`
	}
	_, err := c.do(ctx, "GET", "/api/v1/external-id?tenant="+url.QueryEscape(tenant), nil, &out)
	return out.ExternalID, err
}

// CreateToken issues a token.
func (c *Client) CreateToken(ctx context.Context, tenant, name string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	_, err := c.do(ctx, "POST", "/api/v1/tokens", map[string]string{"tenant": tenant, "name": name}, &out)
	return out.Token, err
}
