package app

import (
	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/segment"
)

// The API's types: app's results are the wire's, defined in apiv1 so that
// the client and the CLI need none of the storage behind them.
type (
	Status           = apiv1.Status
	LastCheck        = apiv1.LastCheck
	AuditSummary     = apiv1.AuditSummary
	RunResult        = apiv1.RunResult
	RetryResult      = apiv1.RetryResult
	ConnectionCheck  = apiv1.ConnectionCheck
	Check            = apiv1.Check
	AccountResult    = apiv1.AccountResult
	Found            = apiv1.Found
	ExcludedPart     = apiv1.ExcludedPart
	AuditResult      = apiv1.AuditResult
	AuditPage        = apiv1.AuditPage
	Alert            = apiv1.Alert
	AlertFilter      = apiv1.AlertFilter
	RuleInfo         = apiv1.RuleInfo
	EvaluationReport = apiv1.EvaluationReport
	NodeInfo         = apiv1.NodeInfo
)

// wireRun is a stored run as the API shows it.
func wireRun(r catalog.Run) apiv1.Run { return apiv1.Run(r) }

func wireRuns(rs []catalog.Run) []apiv1.Run {
	out := make([]apiv1.Run, len(rs))
	for i, r := range rs {
		out[i] = wireRun(r)
	}
	return out
}

// wireStats is a run's counts as the API shows them (its first error is
// the run's reason there).
func wireStats(s collect.Stats) apiv1.Stats {
	return apiv1.Stats{Objects: s.Objects, Records: s.Records, Bytes: s.Bytes, Decompressed: s.Decompressed, Skipped: s.Skipped,
		Quarantined: s.Quarantined, Dropped: s.Dropped, Matched: s.Matched, Errors: s.Errors, Pending: s.Pending, Listings: s.Listings,
		Partitions: s.Partitions, LeasedElsewhere: s.LeasedElsewhere, Newest: s.Newest}
}

// wireSearch is a search's page as the API shows it.
func wireSearch(r *segment.SearchResult) *apiv1.SearchResult {
	if r == nil {
		return nil
	}
	out := &apiv1.SearchResult{Rows: make([]apiv1.Row, len(r.Rows)), Next: (*apiv1.Cursor)(r.Next), Total: r.Total}
	for i, row := range r.Rows {
		out.Rows[i] = apiv1.Row(row)
	}
	return out
}

func wireQuarantine(items []ingest.QuarantineItem) []apiv1.QuarantineItem {
	out := make([]apiv1.QuarantineItem, len(items))
	for i, q := range items {
		out[i] = apiv1.QuarantineItem(q)
	}
	return out
}

func wireTokens(ts []catalog.Token) []apiv1.Token {
	if ts == nil {
		return nil
	}
	out := make([]apiv1.Token, len(ts))
	for i, t := range ts {
		out[i] = apiv1.Token(t)
	}
	return out
}

func wireActorLog(es []catalog.ActorEntry) []apiv1.ActorEntry {
	if es == nil {
		return nil
	}
	out := make([]apiv1.ActorEntry, len(es))
	for i, e := range es {
		out[i] = apiv1.ActorEntry(e)
	}
	return out
}

// lakeSearch is an API search as the lake runs it.
func lakeSearch(r apiv1.SearchRequest) segment.SearchRequest {
	return segment.SearchRequest{Indices: r.Indices, Tenants: r.Tenants, From: r.From, To: r.To, Query: r.Query, Limit: r.Limit, Before: (*segment.Cursor)(r.Before)}
}
