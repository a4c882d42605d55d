package app

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/trawlhq/trawl/internal/audit"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/connector"
)

// Audit pages: the default and the largest number of results in one.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 1000
)

// auditWindow is how far back each run's audit refresh looks for hours
// not yet verified (a missing file that arrives later turns verified).
const auditWindow = 7 * 24 * time.Hour

func publicResults(c *connector.Connector, rs []catalog.AuditResult) []AuditResult {
	out := make([]AuditResult, 0, len(rs))
	for _, r := range rs {
		out = append(out, AuditResult{Connector: c.Name, Account: r.Account, Region: r.Region, Hour: r.Hour, Status: r.Status, Files: r.Files,
			Missing: nonNil(r.Missing), Altered: nonNil(r.Altered), Unlisted: r.Unlisted, Reason: r.Reason, Kind: r.Kind, Digest: r.Digest,
			MissingMore: r.MissingMore, AlteredMore: r.AlteredMore, UnlistedMore: r.UnlistedMore})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AuditDigests runs the digest audit of a CloudTrail connector over [from, to)
// now (every digest of the period, even those found over the limits
// before), stores the results and returns their first page of limit.
func (a *App) AuditDigests(ctx context.Context, sc Scope, id string, from, to time.Time, limit int) (*AuditPage, error) {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	if c.SubType != connector.CloudTrail {
		return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "sub_type", Message: "only CloudTrail connectors have digests to audit"}}}
	}
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := a.runAudit(ctx, c.ID, from, to, nil); err != nil {
		return nil, err
	}
	return a.auditPage(ctx, c, from, to, "", limit)
}

func (a *App) runAudit(ctx context.Context, id string, from, to time.Time, concluded map[string]bool) ([]catalog.AuditResult, error) {
	b, full, err := a.bucketFor(ctx, id)
	if err != nil {
		return nil, err
	}
	ab, ok := b.(audit.Bucket)
	if !ok {
		return nil, fmt.Errorf("connector %s: its source cannot read object metadata", full.Name)
	}
	rs, err := audit.Run(ctx, full, ab, a.lake, a.keysFor(full, b), from, to, audit.Options{Limits: a.opt.DigestLimits, Concluded: concluded})
	if err != nil {
		return nil, err
	}
	stored := make([]catalog.AuditResult, len(rs))
	for i, r := range rs {
		stored[i] = catalog.AuditResult(r)
	}
	if err := a.lake.SaveAudit(ctx, stored); err != nil {
		return nil, err
	}
	return stored, nil
}

// DigestAuditResults returns a page of a connector's stored audit results
// for the hours [from, to) overlaps: limit of them after cursor (empty:
// the first page).
func (a *App) DigestAuditResults(ctx context.Context, sc Scope, id string, from, to time.Time, cursor string, limit int) (*AuditPage, error) {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	return a.auditPage(ctx, c, from, to, cursor, limit)
}

// auditCursor is the JSON of a page's cursor (base64url in the API).
type auditCursor struct {
	Hour    time.Time `json:"h"`
	Account string    `json:"a"`
	Region  string    `json:"r"`
}

func (a *App) auditPage(ctx context.Context, c *connector.Connector, from, to time.Time, cursor string, limit int) (*AuditPage, error) {
	if limit <= 0 || limit > MaxAuditPage {
		return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "limit", Message: fmt.Sprintf("give 1 to %d results a page", MaxAuditPage)}}}
	}
	var after *catalog.AuditCursor
	if cursor != "" {
		var ac auditCursor
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err == nil {
			err = json.Unmarshal(raw, &ac)
		}
		if err != nil {
			return nil, &connector.ValidationError{Problems: []connector.Problem{{Field: "cursor", Message: "not a cursor this API gave (pass the previous page's next as it is)"}}}
		}
		after = &catalog.AuditCursor{Hour: ac.Hour, Account: ac.Account, Region: ac.Region}
	}
	// The hour from falls in is one of the period's (the audit checks it).
	rs, err := a.lake.AuditPage(ctx, c.ID, from.UTC().Truncate(time.Hour), to, after, limit+1)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{}
	if len(rs) > limit {
		rs = rs[:limit]
		last := rs[len(rs)-1]
		raw, err := json.Marshal(auditCursor{last.Hour, last.Account, last.Region})
		if err != nil {
			return nil, fmt.Errorf("audit cursor of %s: %w", c.Name, err)
		}
		page.Next = base64.RawURLEncoding.EncodeToString(raw)
	}
	page.Results = publicResults(c, rs)
	return page, nil
}

// refreshAudit audits, after a run of a CloudTrail connector, the hours
// that can have changed: from the newest hour already stored of each
// account and region (the first time, the last day) to now, and every
// stored hour of the last week not verified yet (a missing file that
// arrives later turns verified). Hours verified before stay as they are,
// so a run reads a few digests per account and region, not a day of them.
// A failure is logged, never the run's.
func (a *App) refreshAudit(ctx context.Context, c *connector.Connector) {
	if c.SubType != connector.CloudTrail {
		return
	}
	now := time.Now().UTC()
	from := now.Add(-24 * time.Hour)
	concluded := map[string]bool{}
	if stored, err := a.lake.AuditResults(ctx, c.ID, now.Add(-auditWindow), now.Add(time.Hour)); err == nil && len(stored) > 0 {
		newest := map[string]time.Time{}
		for _, r := range stored {
			newest[r.Account+"/"+r.Region] = r.Hour // oldest first
			if audit.OverLimit(audit.Result(r)) {
				concluded[r.Digest] = true
			}
		}
		from = now
		for _, h := range newest {
			from = minTime(from, h)
		}
		for _, r := range stored {
			// An hour decided by a digest over the limits stays so:
			// it is no reason to audit again from there.
			if r.Status != audit.Verified && !audit.Concluded(audit.Result(r)) {
				from = minTime(from, r.Hour)
				break
			}
		}
	}
	if _, err := a.runAudit(ctx, c.ID, from, now.Add(time.Hour), concluded); err != nil {
		a.log.Warn("digest audit failed", "connector", c.Name, "err", err)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// auditSummary counts the stored results of the last week.
func (a *App) auditSummary(ctx context.Context, c *connector.Connector) (*AuditSummary, error) {
	if c.SubType != connector.CloudTrail {
		return nil, nil
	}
	since := time.Now().UTC().Add(-auditWindow).Truncate(time.Hour)
	rs, err := a.lake.AuditResults(ctx, c.ID, since, time.Time{})
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	s := &AuditSummary{Hours: map[string]int{}, Since: since}
	for _, r := range rs {
		s.Hours[r.Status]++
		s.MissingFiles += len(r.Missing) + r.MissingMore
		s.AlteredFiles += len(r.Altered) + r.AlteredMore
		if audit.Tampered(r.Kind) {
			s.TamperedDigests++
		}
	}
	return s, nil
}

// ImportPublicKeys caches the keys of a file in the shape of aws
// cloudtrail list-public-keys (operators: --public-keys, for sites that
// cannot call ListPublicKeys). Keys decide what the audit trusts, so only
// an operator (root) gives them.
func (a *App) ImportPublicKeys(ctx context.Context, sc Scope, data []byte, source string) (int, error) {
	if !sc.Root {
		return 0, ErrForbidden
	}
	keys, err := audit.ParseKeysDER(data)
	if err != nil {
		return 0, &PublicKeysError{Problems: []connector.Problem{{Field: "public_keys", Message: err.Error()}}}
	}
	return len(keys), a.lake.SavePublicKeys(ctx, keys, source)
}

// keyFetcher is a source that can ask CloudTrail for its public keys.
type keyFetcher interface {
	PublicKeys(ctx context.Context, region string, from, to time.Time) (map[string][]byte, error)
}

// keysFor finds public keys in the catalog, then (for a connector reading
// AWS itself) through cloudtrail:ListPublicKeys with its credentials,
// caching what it finds by fingerprint.
func (a *App) keysFor(c *connector.Connector, b any) audit.Keys {
	k := &catalogKeys{a: a}
	if f, ok := b.(keyFetcher); ok && c.Endpoint == "" {
		k.fetch = f
	}
	return k
}

type catalogKeys struct {
	a     *App
	fetch keyFetcher
	mu    sync.Mutex
	set   audit.KeySet
	asked map[string]bool // region/hour already asked
}

func (k *catalogKeys) PublicKey(ctx context.Context, region, fingerprint string, at time.Time) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fp := strings.ToLower(fingerprint)
	if k.set == nil {
		ders, err := k.a.lake.PublicKeys(ctx)
		if err != nil {
			return nil, err
		}
		if k.set, err = audit.KeySetOf(ders); err != nil {
			return nil, err
		}
		k.asked = map[string]bool{}
	}
	if key, ok := k.set[fp]; ok {
		return key, nil
	}
	ask := region + at.UTC().Truncate(24*time.Hour).String()
	if k.fetch != nil && !k.asked[ask] {
		k.asked[ask] = true
		ders, err := k.fetch.PublicKeys(ctx, region, at.Add(-24*time.Hour), at.Add(time.Hour))
		if err != nil {
			return nil, fmt.Errorf("no cached public key with fingerprint %s, and cloudtrail:ListPublicKeys failed: %w", fingerprint, err)
		}
		if err := k.a.lake.SavePublicKeys(ctx, ders, "ListPublicKeys "+region); err != nil {
			return nil, err
		}
		more, err := audit.KeySetOf(ders)
		if err != nil {
			return nil, err
		}
		for f, key := range more {
			k.set[f] = key
		}
	}
	return k.set.PublicKey(ctx, region, fingerprint, at)
}
