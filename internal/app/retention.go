package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Retention: a setting keeps N UTC days of records, today and the N-1
// before (a day is a partition of the tables, and is dropped whole, never
// in part); older days are dropped by the background maintenance. The
// lake's default is the stored one if root set it, else trawl serve
// --retention (0, forever, unless given). A tenant, and a tenant's index,
// may have their own; the most specific setting applies. A tenant's token
// may set its own retention no longer than root decided for the tenant
// (root's setting of the whole tenant, else the lake's default):
// shortening is a tenant's choice, lengthening costs the operator's
// storage. For the same reason a setting root made for a tenant, or a
// tenant's index, is root's: the tenant's token may not change or remove
// it (each setting records who set it).

// ParseRetention reads "90d" (days), "0" or "forever" (keep forever).
func ParseRetention(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "forever" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if !strings.HasSuffix(s, "d") || err != nil || n <= 0 {
		return 0, fmt.Errorf("retention %q: give whole days (90d), or 0 or forever to keep everything", s)
	}
	if n > maxRetentionDays {
		return 0, fmt.Errorf("retention %q: at most %dd (100 years); for longer, forever", s, maxRetentionDays)
	}
	return n, nil
}

// maxRetentionDays bounds a retention (the catalog stores days as a
// 32-bit integer; a century is past any audit requirement).
const maxRetentionDays = 36500

// FormatRetention is days as ParseRetention reads them.
func FormatRetention(days int) string {
	if days <= 0 {
		return "forever"
	}
	return strconv.Itoa(days) + "d"
}

func retentionSetting(r catalog.Retention) apiv1.RetentionSetting {
	return apiv1.RetentionSetting{Tenant: r.Tenant, Index: r.Index, Days: r.Days, Retention: FormatRetention(r.Days), SetBy: r.SetBy}
}

// retentionPolicy resolves the settings: the most specific applies.
type retentionPolicy struct {
	def       int
	byTenant  map[string]int
	byIndexOf map[[2]string]int
	// setBy says who set each setting of a tenant ({tenant, ""}) or of a
	// tenant's index ({tenant, index}).
	setBy map[[2]string]string
}

func (a *App) retentionPolicy(ctx context.Context) (retentionPolicy, error) {
	p := retentionPolicy{def: a.opt.Retention, byTenant: map[string]int{}, byIndexOf: map[[2]string]int{}, setBy: map[[2]string]string{}}
	rs, err := a.lake.Retentions(ctx)
	if err != nil {
		return p, err
	}
	for _, r := range rs {
		p.setBy[[2]string{r.Tenant, r.Index}] = r.SetBy
		switch {
		case r.Tenant == "":
			p.def = r.Days
		case r.Index == "":
			p.byTenant[r.Tenant] = r.Days
		default:
			p.byIndexOf[[2]string{r.Tenant, r.Index}] = r.Days
		}
	}
	return p, nil
}

// days is the retention of a tenant's index (0: forever): the most
// specific setting, where one the tenant made is no longer than what
// root decided for it when it applies (root's setting of the whole
// tenant, for an index, else the lake's default), whatever root decided
// before or after the tenant's setting: a tenant that set its indexes to
// forever before root set 7d for it keeps 7 days.
func (p retentionPolicy) days(tenant, index string) int {
	capped := func(d, limit int) int {
		if limit > 0 && (d == 0 || d > limit) {
			return limit
		}
		return d
	}
	whole := [2]string{tenant, ""}
	if d, ok := p.byIndexOf[[2]string{tenant, index}]; ok {
		if p.setBy[[2]string{tenant, index}] != catalog.SetByTenant {
			return d
		}
		limit := p.def
		if td, ok := p.byTenant[tenant]; ok && p.setBy[whole] != catalog.SetByTenant {
			limit = td
		}
		return capped(d, limit)
	}
	if d, ok := p.byTenant[tenant]; ok {
		if p.setBy[whole] != catalog.SetByTenant {
			return d
		}
		return capped(d, p.def)
	}
	return p.def
}

// Retention reports the retention settings the scope sees: root all (or a
// tenant's), a tenant token its own.
func (a *App) Retention(ctx context.Context, sc Scope, tenant string) (apiv1.RetentionReport, error) {
	if !sc.Root {
		if tenant != "" && tenant != sc.Tenant {
			return apiv1.RetentionReport{}, fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
		}
		tenant = sc.Tenant
	}
	p, err := a.retentionPolicy(ctx)
	if err != nil {
		return apiv1.RetentionReport{}, err
	}
	rep := apiv1.RetentionReport{Default: retentionSetting(catalog.Retention{Days: p.def}), Settings: []apiv1.RetentionSetting{}}
	rs, err := a.lake.Retentions(ctx)
	if err != nil {
		return rep, err
	}
	for _, r := range rs {
		if r.Tenant != "" && (tenant == "" || r.Tenant == tenant) {
			rep.Settings = append(rep.Settings, retentionSetting(r))
		}
	}
	return rep, nil
}

// SetRetention stores a retention (value as ParseRetention reads it, or
// "inherit" to remove the setting), and logs who changed it.
func (a *App) SetRetention(ctx context.Context, sc Scope, in apiv1.RetentionChange) error {
	if !sc.Root {
		if in.Tenant != "" && in.Tenant != sc.Tenant {
			return fmt.Errorf("tenant %q: %w", in.Tenant, ErrNotFound)
		}
		in.Tenant = sc.Tenant
	}
	if in.Index != "" && interflow.SchemaFor(in.Index) == nil {
		return retentionProblem("index", fmt.Sprintf("%q: no such index", in.Index))
	}
	if in.Index != "" && in.Tenant == "" {
		return retentionProblem("tenant", "an index's retention belongs to a tenant: name it")
	}
	if sc.Root && in.Tenant != "" {
		// A typo (ACME for acme) would be stored and apply to nothing.
		tenants, err := a.lake.Tenants(ctx)
		if err != nil {
			return err
		}
		if !slices.Contains(tenants, in.Tenant) {
			return retentionProblem("tenant", fmt.Sprintf("%.200q is not a tenant (names are exact, case included); a tenant exists once it has a connector or a token", in.Tenant))
		}
	}
	target := strings.Trim(in.Tenant+"/"+in.Index, "/")
	if target == "" {
		target = "default"
	}
	inherit := in.Retention == "inherit"
	if inherit && in.Tenant == "" {
		return retentionProblem("retention", "the lake's default has nothing to inherit from: give days, or forever")
	}
	days := -1 // inherit: the setting is removed
	if !inherit {
		var err error
		if days, err = ParseRetention(in.Retention); err != nil {
			return retentionProblem("retention", strings.TrimPrefix(err.Error(), "retention ")) // the field names it once
		}
	}
	by := catalog.SetByRoot
	if !sc.Root {
		by = catalog.SetByTenant
		p, err := a.retentionPolicy(ctx)
		if err != nil {
			return err
		}
		if err := p.tenantMay(in, target, days); err != nil {
			return err
		}
	}
	var err error
	if inherit {
		err = a.lake.ClearRetention(ctx, in.Tenant, in.Index, by)
	} else {
		err = a.lake.SetRetention(ctx, catalog.Retention{Tenant: in.Tenant, Index: in.Index, Days: days, SetBy: by})
	}
	if errors.Is(err, catalog.ErrSetByRoot) {
		return &RetentionSetByRootError{Target: target} // root set it since tenantMay read the settings
	}
	if err != nil {
		return err
	}
	detail := "inherit"
	if !inherit {
		detail = FormatRetention(days)
	}
	_ = a.lake.LogAction(ctx, sc.Actor, in.Tenant, "retention.set", target, detail)
	return nil
}

// tenantMay checks a tenant's change of its retention (days < 0: the
// setting is removed): a setting root made is root's, and a tenant's is
// no longer than root decided for the tenant (root's setting of the
// whole tenant, for an index, else the lake's default).
func (p retentionPolicy) tenantMay(in apiv1.RetentionChange, target string, days int) error {
	if p.setBy[[2]string{in.Tenant, in.Index}] == catalog.SetByRoot {
		return &RetentionSetByRootError{Target: target}
	}
	if days < 0 {
		return nil
	}
	limit, whose := p.def, "the lake's "+FormatRetention(p.def)
	if d, ok := p.byTenant[in.Tenant]; ok && in.Index != "" && p.setBy[[2]string{in.Tenant, ""}] == catalog.SetByRoot {
		limit, whose = d, "the "+FormatRetention(d)+" root set for "+in.Tenant
	}
	if limit > 0 && (days == 0 || days > limit) {
		return retentionProblem("retention", fmt.Sprintf("%s is longer than %s: only root sets a longer retention", FormatRetention(days), whose))
	}
	return nil
}

// RetentionSetByRootError refuses a tenant's token the change or removal
// of a retention root set for its tenant (403: the tenant sees the
// setting; only root changes it).
type RetentionSetByRootError struct{ Target string }

func (e *RetentionSetByRootError) Error() string {
	return fmt.Sprintf("the retention of %s was set by root: a tenant's token cannot change or remove it; root (the Trawl administrator) can, "+
		"with trawl retention set or PUT /api/v1/retention; a tenant's token may set the indexes root did not set", e.Target)
}

// Is makes the refusal an ErrForbidden (the API's 403).
func (e *RetentionSetByRootError) Is(target error) bool { return target == ErrForbidden }

// pastRetention lists the days of the lake outside their retention at
// now: a day is dropped when it is before today (UTC) minus days-1, so
// whole, or when it is after tomorrow. A record dated in the future (a
// forged or broken eventTime: AWS stamps events as they happen) would
// otherwise sit past every retention forever; tomorrow is kept for clocks
// ahead of this one.
func pastRetention(p retentionPolicy, held []catalog.Day, now time.Time) []catalog.Day {
	today := now.UTC().Truncate(24 * time.Hour)
	var out []catalog.Day
	for _, d := range held {
		n := p.days(d.Tenant, d.Index)
		if n > 0 && (d.Day.Before(today.AddDate(0, 0, -(n-1))) || d.Day.After(today.AddDate(0, 0, 1))) {
			out = append(out, d)
		}
	}
	return out
}

// ApplyRetention drops the days past their retention in one catalog
// transaction; the next snapshot of each table deletes their files, which
// are removed from disk once that snapshot's predecessors expire.
func (a *App) ApplyRetention(ctx context.Context) (catalog.DropStats, error) {
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return catalog.DropStats{}, err
	}
	defer done()
	p, err := a.retentionPolicy(ctx)
	if err != nil {
		return catalog.DropStats{}, err
	}
	held, err := a.lake.LakeDays(ctx)
	if err != nil {
		return catalog.DropStats{}, err
	}
	drop := pastRetention(p, held, a.now())
	if len(drop) == 0 {
		return catalog.DropStats{}, nil
	}
	// A search that listed the dropped segments may still read them for
	// a minute (as after a compaction); a snapshot retention set shorter
	// (TRAWL_SNAPSHOT_RETENTION, tests) shortens that too, so the files go
	// when the snapshots that held them expire.
	st, err := a.lake.DropDays(ctx, drop, min(time.Minute, a.lake.snapshotRetention))
	if err != nil {
		return st, err
	}
	a.lake.wakePublisher()
	return st, nil
}

// OldestDaysKept is each tenant's oldest day in the lake (root: the
// labels name tenants).
func (a *App) OldestDaysKept(ctx context.Context, sc Scope) (map[string]time.Time, error) {
	if !sc.Root {
		return nil, ErrForbidden
	}
	return a.lake.OldestDays(ctx)
}
