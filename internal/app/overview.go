package app

import (
	"context"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/query"
	"github.com/trawlhq/trawl/internal/segment"
)

// Overview is a tenant's last day at a glance: records per connector per
// hour and the top values that usually start a hunt. Each chart carries
// the query (and index) of the hunt behind it, so the console links to it
// and its numbers are what that search counts.
type Overview struct {
	From       time.Time        `json:"from"`
	To         time.Time        `json:"to"`
	Connectors []ConnectorHours `json:"connectors"`
	Tops       []TopChart       `json:"tops"`
}

// ConnectorHours is one connector's records per hour.
type ConnectorHours struct {
	Connector string           `json:"connector"`
	Query     string           `json:"query"`
	Buckets   []segment.Bucket `json:"buckets"`
}

// TopChart is the top values of a field among the records of a query.
type TopChart struct {
	Title  string             `json:"title"`
	Index  string             `json:"index"`
	Query  string             `json:"query"`
	Field  string             `json:"field"`
	Values []segment.TopValue `json:"values"`
}

// overviewTops are the overview's top-N charts.
var overviewTops = []TopChart{
	{Title: "Top event names", Index: interflow.IndexEvents, Query: "msg_class:cloudtrail", Field: "event_name"},
	{Title: "Top error codes", Index: interflow.IndexEvents, Query: "msg_class:cloudtrail", Field: "error_code"},
	{Title: "Rejected flows by destination port", Index: interflow.IndexTraffic, Query: "action:REJECT", Field: "dstport"},
	{Title: "WAF blocks by rule", Index: interflow.IndexEvents, Query: "msg_class:aws_waf AND action:BLOCK", Field: "rule_id"},
}

// Overview answers the last 24 hours of a tenant (a root token: of one
// tenant, or all with none).
func (a *App) Overview(ctx context.Context, sc Scope, tenant string) (*Overview, error) {
	to := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	o := &Overview{From: to.Add(-24 * time.Hour), To: to}
	conns, err := a.ListConnectors(ctx, sc, tenant)
	if err != nil {
		return nil, err
	}
	for _, c := range conns {
		q := "connector:" + query.Quote(c.Name)
		req := apiv1.SearchRequest{From: o.From, To: o.To, Query: q, Indices: indexOf(c.SubType)}
		b, err := a.Histogram(ctx, sc, tenant, req, time.Hour)
		if err != nil {
			return nil, err
		}
		o.Connectors = append(o.Connectors, ConnectorHours{Connector: c.Name, Query: q, Buckets: b})
	}
	for _, t := range overviewTops {
		req := apiv1.SearchRequest{From: o.From, To: o.To, Query: t.Query, Indices: []string{t.Index}}
		if t.Values, err = a.Top(ctx, sc, tenant, req, t.Field, 10); err != nil {
			return nil, err
		}
		if t.Values == nil {
			t.Values = []segment.TopValue{}
		}
		o.Tops = append(o.Tops, t)
	}
	return o, nil
}

func indexOf(st connector.SubType) []string {
	if st == connector.VPCFlow {
		return []string{interflow.IndexTraffic}
	}
	return []string{interflow.IndexEvents}
}
