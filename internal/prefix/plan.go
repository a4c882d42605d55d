package prefix

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/source"
)

// Lister lists one level of a bucket: the "folders" (common prefixes) and
// the objects directly below prefix.
type Lister interface {
	ListLevel(ctx context.Context, prefix string) (dirs []string, objs []source.Object, err error)
}

// Partition is a place where one stream of log objects accumulates over
// time: a folder whose sub-folders are dates (AWS's own layouts), a
// template with date variables, or a flat folder.
type Partition struct {
	// Prefix is the folder ("AWSLogs/1234/CloudTrail/us-east-1/"), or for a
	// dated template the template with its wildcard filled in.
	Prefix string `json:"prefix"`
	Kind   Kind   `json:"kind"`
	// Account is the account ID the partition belongs to, when known.
	Account string `json:"account,omitempty"`
}

// Kind says how a partition's objects are laid out below its prefix.
type Kind int

// Partition kinds.
const (
	// Dated: YYYY/MM/DD/ folders (CloudTrail, VPC flow, WAF).
	Dated Kind = iota
	// Hive: year=YYYY/month=MM/day=DD/ folders (VPC flow, Parquet-style).
	Hive
	// Templated: the connector's own date variables.
	Templated
	// Flat: no date structure; listed whole each run.
	Flat
	// TimeNamed: objects directly in the folder named by the time they
	// were delivered, YYYY-MM-DD-HH-MM-SS-... (S3 server access logs' flat
	// key format); listed from the window's first day on (ListNamedByTime).
	TimeNamed
)

func (k Kind) String() string {
	return [...]string{"dated", "hive", "templated", "flat", "timenamed"}[k]
}

// MaxDepth bounds discovery below the connector's prefix.
const MaxDepth = 8

var (
	yearDir     = regexp.MustCompile(`^[12][0-9]{3}/$`)
	hiveYearDir = regexp.MustCompile(`^year=[12][0-9]{3}/$`)
	accountDir  = regexp.MustCompile(`^(aws-account-id=)?[0-9]{12}/$`)
)

// Relevant says whether a service folder under an account holds logs of a
// sub type ("CloudTrail/", "vpcflowlogs/", ...). Discovery does not descend
// into the others.
type Relevant func(serviceDir string) bool

// Discovery is the result of walking a template's prefix.
type Discovery struct {
	Partitions []Partition
	// Requests counts the listing requests discovery made.
	Requests int
	// Accounts are the account IDs found, for the connector test.
	Accounts []string
	// Regions are the region folders found (collected or not), sorted.
	Regions []string
	// Excluded are the folders discovery did not descend into, each with
	// the reason, so Test can say what the connector will not collect.
	Excluded []Excluded
}

// Excluded is a folder discovery left out, and why.
type Excluded struct {
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

// discoverWalk is one discovery's state while it walks the folders.
type discoverWalk struct {
	*Discovery
	lister   Lister
	ranged   RangeLister // set: folders may hold objects named by time
	relevant Relevant
	regions  map[string]bool // nil: every region
	accounts map[string]bool
	found    map[string]bool // region folders met
}

// Discover finds the partitions under a template: it fills a "*" account
// with every account found (so a new account is picked up at the next run),
// descends through organization, account, service and region folders, and
// stops at date folders. regions, when not empty, are the only region
// folders descended into; the others are listed in Excluded.
func Discover(ctx context.Context, l Lister, t *Template, relevant Relevant, regions []string) (*Discovery, error) {
	return discover(ctx, &discoverWalk{lister: l}, t, relevant, regions)
}

// DiscoverNamedByTime is Discover for a sub type whose objects may lie
// in a flat folder named by time (S3 server access logs): such a folder
// is a TimeNamed partition, and each folder is listed by levelSkipping,
// which steps over the objects instead of listing them, so discovery
// costs a request per folder and per year of names, not per object.
func DiscoverNamedByTime(ctx context.Context, l RangeLister, t *Template, relevant Relevant, regions []string) (*Discovery, error) {
	return discover(ctx, &discoverWalk{lister: l, ranged: l}, t, relevant, regions)
}

func discover(ctx context.Context, d *discoverWalk, t *Template, relevant Relevant, regions []string) (*Discovery, error) {
	d.Discovery, d.relevant, d.accounts, d.found = &Discovery{}, relevant, map[string]bool{}, map[string]bool{}
	if len(regions) > 0 {
		d.regions = map[string]bool{}
		for _, r := range regions {
			d.regions[r] = true
		}
	}
	accounts := d.accounts
	roots := []string{t.raw}
	if t.hasWildcard() {
		before, after := t.splitWildcard()
		dirs, _, _, err := d.level(ctx, before)
		if err != nil {
			return nil, err
		}
		roots = roots[:0]
		for _, dir := range dirs {
			name := strings.TrimPrefix(dir, before)
			if !accountDir.MatchString(name) {
				continue
			}
			roots = append(roots, strings.TrimSuffix(dir, "/")+after)
		}
	}
	for _, root := range roots {
		rt, err := Parse(root, Options{})
		if err != nil {
			return nil, fmt.Errorf("expanding %q: %w", t.raw, err)
		}
		if a := Account(root + "/"); a != "" {
			accounts[a] = true
		}
		if rt.HasVars() {
			d.Partitions = append(d.Partitions, Partition{Prefix: root, Kind: Templated, Account: Account(root + "/")})
			continue
		}
		if err := d.walk(ctx, rt.ListPrefix(), 0); err != nil {
			return nil, err
		}
	}
	for a := range accounts {
		d.Accounts = append(d.Accounts, a)
	}
	for r := range d.found {
		d.Regions = append(d.Regions, r)
	}
	sort.Strings(d.Accounts)
	sort.Strings(d.Regions)
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Prefix < d.Partitions[j].Prefix })
	sort.Slice(d.Excluded, func(i, j int) bool { return d.Excluded[i].Prefix < d.Excluded[j].Prefix })
	return d.Discovery, nil
}

// level lists one folder: the sub-folders, the objects not named by time,
// and whether objects named by time are there (only when d.ranged).
func (d *discoverWalk) level(ctx context.Context, prefix string) ([]string, []source.Object, bool, error) {
	if d.ranged != nil {
		dirs, objs, timeNamed, n, err := levelSkipping(ctx, d.ranged, prefix)
		d.Requests += n
		return dirs, objs, timeNamed, err
	}
	dirs, objs, err := d.lister.ListLevel(ctx, prefix)
	d.Requests++
	return dirs, objs, false, err
}

func (d *discoverWalk) walk(ctx context.Context, prefix string, depth int) error {
	dirs, objs, timeNamed, err := d.level(ctx, prefix)
	if err != nil {
		return err
	}
	var years, hive, others []string
	for _, dir := range dirs {
		name := dir[len(prefix):]
		switch {
		case yearDir.MatchString(name):
			years = append(years, dir)
		case hiveYearDir.MatchString(name):
			hive = append(hive, dir)
		default:
			others = append(others, dir)
		}
	}
	acct := Account(prefix)
	if d.ranged != nil {
		acct = accountOf(prefix)
	}
	switch {
	case len(years) > 0:
		d.Partitions = append(d.Partitions, Partition{Prefix: prefix, Kind: Dated, Account: acct})
	case len(hive) > 0:
		d.Partitions = append(d.Partitions, Partition{Prefix: prefix, Kind: Hive, Account: acct})
	}
	switch {
	case len(years) > 0 || len(hive) > 0:
	case timeNamed:
		// Objects beside the time-named ones are not read: S3 writes
		// none there, and one partition is one listing.
		d.Partitions = append(d.Partitions, Partition{Prefix: prefix, Kind: TimeNamed, Account: acct})
	case len(objs) > 0:
		d.Partitions = append(d.Partitions, Partition{Prefix: prefix, Kind: Flat, Account: acct})
	}
	if depth >= MaxDepth {
		return nil
	}
	for _, dir := range others {
		name := dir[len(prefix):]
		if a := Account(dir); a != "" {
			d.accounts[a] = true
		} else if d.ranged != nil && accountDir.MatchString(name) {
			d.accounts[strings.TrimSuffix(name, "/")] = true
		}
		if otherService(prefix, name, d.relevant) {
			// Other services' folders (Config, CloudTrail-Digest, ...):
			// not logs of this sub type, and not worth a line in Test.
			continue
		}
		if r := regionOf(name); r != "" {
			d.found[r] = true
			if d.regions != nil && !d.regions[r] {
				d.Excluded = append(d.Excluded, Excluded{Prefix: dir, Reason: regionLeftOut(r)})
				continue
			}
		}
		if err := d.walk(ctx, dir, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func lastDir(prefix string) string {
	p := strings.TrimSuffix(prefix, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:] + "/"
	}
	return p + "/"
}

var regionRe = regexp.MustCompile(`^(aws-region=)?[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]/$`)

func isRegionDir(name string) bool { return regionRe.MatchString(name) }

// regionOf is the region a folder name holds (us-east-1/ or
// aws-region=us-east-1/), or "".
func regionOf(name string) string {
	if !isRegionDir(name) {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(name, "aws-region="), "/")
}

// regionLeftOut is why discovery leaves out a region's folder.
func regionLeftOut(r string) string {
	return fmt.Sprintf("region %s is not in the connector's regions", r)
}

// otherService reports whether name, a folder under dir, is another
// service's folder under an account (Config, CloudTrail-Digest, ...):
// discovery does not go into it.
func otherService(dir, name string, relevant Relevant) bool {
	return relevant != nil && accountDir.MatchString(lastDir(dir)) && !relevant(name)
}

func (t *Template) hasWildcard() bool {
	for _, s := range t.segs {
		if s.Var == Wildcard {
			return true
		}
	}
	return false
}

// splitWildcard returns the text before the "*" and after it.
func (t *Template) splitWildcard() (string, string) {
	i := strings.IndexByte(t.raw, '*')
	return t.raw[:i], t.raw[i+1:]
}

// Prefixes returns the prefixes to list for a partition so that every
// object delivered in [from, to] is found: one per day for dated layouts,
// one per expansion of a template's date variables, the folder itself for a
// flat partition. Days are UTC, as AWS names them.
func (p Partition) Prefixes(from, to time.Time) []string {
	from, to = from.UTC(), to.UTC()
	switch p.Kind {
	case Flat, TimeNamed:
		return []string{p.Prefix}
	case Templated:
		return expandTemplate(p.Prefix, from, to)
	}
	var out []string
	day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	for ; !day.After(to); day = day.AddDate(0, 0, 1) {
		if p.Kind == Hive {
			out = append(out, p.Prefix+day.Format("year=2006/month=01/day=02/"))
		} else {
			out = append(out, p.Prefix+day.Format("2006/01/02/"))
		}
		if len(out) > 100000 {
			break
		}
	}
	return out
}

// expandTemplate lists the template's date-variable expansions covering
// [from, to], at the granularity of its finest variable, each cut at the
// first variable it cannot fill (the rest is matched by the template).
func expandTemplate(tmpl string, from, to time.Time) []string {
	t, err := Parse(tmpl, Options{})
	if err != nil {
		return nil
	}
	step := 24 * time.Hour * 366
	for _, s := range t.segs {
		switch s.Var {
		case Month1, Month2:
			step = min(step, 24*time.Hour*28)
		case Day1, Day2:
			step = min(step, 24*time.Hour)
		case Hour1, Hour2:
			step = min(step, time.Hour)
		}
	}
	seen := map[string]bool{}
	var out []string
	add := func(ts time.Time) {
		s := t.render(ts)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	start := from.Truncate(step)
	if step >= 24*time.Hour {
		start = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	}
	for ts := start; !ts.After(to) && len(out) < 100000; ts = ts.Add(step) {
		add(ts)
	}
	add(to)
	return out
}

// render fills the date variables with ts; the result ends where the
// template ends, plus "/".
func (t *Template) render(ts time.Time) string {
	var b strings.Builder
	for _, s := range t.segs {
		switch s.Var {
		case "":
			b.WriteString(s.Lit)
		case Year:
			b.WriteString(ts.Format("2006"))
		case Month1:
			b.WriteString(ts.Format("1"))
		case Month2:
			b.WriteString(ts.Format("01"))
		case Day1:
			b.WriteString(ts.Format("2"))
		case Day2:
			b.WriteString(ts.Format("02"))
		case Hour1:
			fmt.Fprintf(&b, "%d", ts.Hour())
		case Hour2:
			b.WriteString(ts.Format("15"))
		default:
			// Minutes (and anything unknown) are not expanded: listing
			// stops at the hour and the template filters the keys.
			return b.String()
		}
	}
	return b.String() + "/"
}

// PartitionOf is the partition Discover would put key in, found from the
// key alone (an object a notification announces, without listing), or why
// discovery would leave it out: a region not in regions, a service folder
// not relevant. The key must match the template.
func (t *Template) PartitionOf(key string, relevant Relevant, regions []string) (Partition, string) {
	if t.HasVars() {
		root := t.raw
		if t.hasWildcard() {
			before, after := t.splitWildcard()
			acct, _, _ := strings.Cut(strings.TrimPrefix(key, before), "/")
			root = before + acct + after
		}
		if rt, err := Parse(root, Options{}); err == nil && rt.HasVars() {
			return Partition{Prefix: root, Kind: Templated, Account: Account(root + "/")}, ""
		} else if err == nil {
			// A wildcard-only template: the walk starts at the filled root.
			return partitionBelow(rt.ListPrefix(), key, relevant, regions)
		}
		return Partition{}, "the key does not fill the prefix's account"
	}
	return partitionBelow(t.ListPrefix(), key, relevant, regions)
}

// partitionBelow walks key's folders below root as Discover's walk would:
// the partition is the folder whose sub-folder is a year (dated or hive),
// else the key's own folder (flat).
func partitionBelow(root, key string, relevant Relevant, regions []string) (Partition, string) {
	if !strings.HasPrefix(key, root) {
		return Partition{}, "the key is not under the prefix " + root
	}
	dir := root
	for depth := 0; ; depth++ {
		rest := key[len(dir):]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return Partition{Prefix: dir, Kind: Flat, Account: Account(dir)}, ""
		}
		name := rest[:i+1]
		switch {
		case yearDir.MatchString(name):
			return Partition{Prefix: dir, Kind: Dated, Account: Account(dir)}, ""
		case hiveYearDir.MatchString(name):
			return Partition{Prefix: dir, Kind: Hive, Account: Account(dir)}, ""
		}
		if depth >= MaxDepth {
			return Partition{}, fmt.Sprintf("the key is deeper than %d folders below the prefix, where discovery stops", MaxDepth)
		}
		if otherService(dir, name, relevant) {
			return Partition{}, "the folder " + dir + name + " holds another service's objects"
		}
		if r := regionOf(name); r != "" && len(regions) > 0 && !slices.Contains(regions, r) {
			return Partition{}, regionLeftOut(r)
		}
		dir += name
	}
}
