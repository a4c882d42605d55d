package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/source"
)

// maxFoundFolders bounds the folders a test lists: an organization trail
// has one per account and region.
const maxFoundFolders = 100

func found(c *connector.Connector, d *prefix.Discovery) *Found {
	f := &Found{Accounts: d.Accounts, Regions: d.Regions, FolderCount: len(d.Partitions), Folders: []string{}}
	for i, p := range d.Partitions {
		if i == maxFoundFolders {
			break
		}
		f.Folders = append(f.Folders, p.Prefix)
	}
	for _, e := range d.Excluded {
		f.Excluded = append(f.Excluded, ExcludedPart(e))
	}
	for _, r := range c.Regions {
		if !slices.Contains(d.Regions, r) {
			f.MissingRegions = append(f.MissingRegions, r)
		}
	}
	return f
}

// foundLine says in one line what the connector collects and leaves out.
func foundLine(f *Found) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s found, %s", Plural(len(f.Accounts), "account"), Plural(len(f.Regions), "region"))
	if len(f.Regions) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(f.Regions, ", "))
	}
	fmt.Fprintf(&b, ", %s collected (%s)", Plural(f.FolderCount, "folder"), describeOf(f.Folders, f.FolderCount))
	if len(f.Excluded) > 0 {
		var left []string
		for _, e := range f.Excluded {
			left = append(left, e.Prefix)
		}
		fmt.Fprintf(&b, "; NOT collected: %s (%s)", describeKeys(left), f.Excluded[0].Reason)
		if len(f.Excluded) > 1 {
			b.WriteString(", and likewise the others")
		}
	}
	if len(f.MissingRegions) > 0 {
		fmt.Fprintf(&b, "; no folder for the listed regions %s", strings.Join(f.MissingRegions, ", "))
	}
	return b.String()
}

// testBucket is what a connection test needs beyond collection.
type testBucket interface {
	collect.Bucket
	Head(ctx context.Context, key string) (source.Object, string, error)
}

type prober interface {
	Probe(ctx context.Context) error
	FirstPage(ctx context.Context, prefix string, max int32) ([]source.Object, error)
}

// testLease is the lease a connector's test holds in a shared catalog; no
// partition is named so (partitions are S3 prefixes).
const testLease = "#test"

// CheckConnection checks, in order, that the endpoint is reachable (DNS,
// proxy, TLS), the credentials are accepted, the prefix can be listed, the
// newest object can be read (and decrypted, for SSE-KMS) and its first
// record decodes. Failures are explained as the HTTP status they map to. A
// wildcard connector is tested for every account found. One test runs at a
// time; a second caller gets ErrBusy.
func (a *App) CheckConnection(ctx context.Context, sc Scope, id string) (*ConnectionCheck, error) {
	c, err := a.GetConnector(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if !a.testMu.TryLock() {
		return nil, fmt.Errorf("a connection test is already running; wait for it to finish and try again: %w", ErrBusy)
	}
	defer a.testMu.Unlock()
	if a.leases != nil {
		// Cluster-wide: one test of a connector at a time, on any node.
		held, err := a.leases.Claim(ctx, c.ID, []string{testLease}, 0)
		if err != nil {
			return nil, err
		}
		if len(held) == 0 {
			return nil, fmt.Errorf("connector %s is being tested on another node; wait for it to finish and try again: %w", c.Name, ErrBusy)
		}
		defer a.leases.Release(context.WithoutCancel(ctx), c.ID, held)
		stop := make(chan struct{})
		defer close(stop)
		go func() { // a test may outlast a lease
			t := time.NewTicker(max(a.leases.TTL()/3, 10*time.Millisecond))
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					_ = a.leases.Renew(ctx, c.ID, held)
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res := a.runTest(ctx, c)
	_ = a.lake.LogAction(ctx, sc.Actor, c.Tenant, "connector.test", c.ID, fmt.Sprintf("%s ok=%v", c.Name, res.OK))
	// The outcome is kept beside the connector's status, not in its run
	// history: a test collects nothing.
	a.recordTest(ctx, c.ID, res)
	return res, nil
}

// recommendPermissions replaces the generic advice of a 403 on list, read
// or decrypt with the exact statement to add, from the policy generator.
func recommendPermissions(res *ConnectionCheck, c *connector.Connector) {
	if c.IsLocal() {
		return
	}
	p, err := awspolicy.For(c, awspolicy.Options{})
	if err != nil {
		return
	}
	fix := func(checks []Check) {
		for i := range checks {
			ch := &checks[i]
			if !ch.OK && ch.Status == 403 && (ch.Name == "list" || ch.Name == "read" || ch.Name == "decrypt" || ch.Name == "queue") {
				ch.Recommendation = p.Recommendation(ch.Name)
			}
		}
	}
	fix(res.Checks)
	for i := range res.Accounts {
		fix(res.Accounts[i].Checks)
	}
}

func failCheck(name string, err error) Check {
	ch := Check{Name: name, Status: 500, Explanation: err.Error()}
	var se *source.Error
	if errors.As(err, &se) {
		ch.Status, ch.Explanation, ch.Recommendation = se.Status, se.Explanation, se.Recommendation
		if a := se.Answer(); a != "" {
			ch.Detail = a
		}
	}
	return ch
}

func (a *App) runTest(ctx context.Context, c *connector.Connector) *ConnectionCheck {
	res := &ConnectionCheck{}
	// The queue is checked with the bucket's connection (its credentials:
	// a role is assumed once), whatever the bucket's checks found.
	var b collect.Bucket
	var full *connector.Connector
	var connectErr error
	add := func(ch Check) bool {
		res.Checks = append(res.Checks, ch)
		return ch.OK || ch.Skipped
	}
	finish := func() *ConnectionCheck {
		if c.QueueURL != "" {
			res.Checks = append(res.Checks, a.queueCheck(ctx, b, full, connectErr))
		}
		recommendPermissions(res, c)
		res.OK = true
		for _, ch := range res.Checks {
			if !ch.OK && !ch.Skipped {
				res.OK = false
				res.Summary = fmt.Sprintf("Failure: %s check failed with %d: %s", ch.Name, ch.Status, ch.Explanation)
				return res
			}
		}
		for _, ac := range res.Accounts {
			if !ac.OK {
				res.OK = false
				res.Summary = "Failure: account " + ac.Account + " failed; see its checks"
				return res
			}
		}
		res.Summary = "Success: Trawl can list, read and decode this connector's logs"
		if len(res.Accounts) > 0 {
			res.Summary += " in " + allOf(len(res.Accounts), "account")
		}
		return res
	}

	b, full, err := a.bucketFor(ctx, c.ID)
	if err != nil {
		add(failCheck("endpoint", err))
		connectErr = err // the queue's check fails with it too
		return finish()
	}
	tb, _ := b.(testBucket)
	if p, ok := b.(prober); ok {
		if err := p.Probe(ctx); err != nil {
			add(failCheck("endpoint", err))
			return finish()
		}
		add(Check{Name: "endpoint", OK: true, Detail: "reachable"})
		tmpl, _ := prefix.Parse(full.Prefix, prefix.Options{AllowWildcard: true})
		if _, err := p.FirstPage(ctx, tmpl.ListPrefix(), 1); err != nil {
			var se *source.Error
			if errors.As(err, &se) && (se.Status == 401 || se.Op == source.OpAssumeRole) {
				add(failCheck("credentials", err))
				return finish()
			}
			add(Check{Name: "credentials", OK: true, Detail: "the request signature was accepted"})
			add(failCheck("list", err))
			return finish()
		}
		add(Check{Name: "credentials", OK: true, Detail: "the request signature was accepted"})
	} else {
		add(Check{Name: "endpoint", OK: true, Detail: "local folder"})
		add(Check{Name: "credentials", Skipped: true, OK: true, Detail: "a local folder needs none"})
	}

	tmpl, err := prefix.Parse(full.Prefix, prefix.Options{AllowWildcard: full.SubType != connector.WAF})
	if err != nil {
		add(Check{Name: "list", Status: 400, Explanation: err.Error(), Recommendation: "Fix the prefix."})
		return finish()
	}
	disc, err := collect.Discover(ctx, b, tmpl, full)
	if err != nil {
		add(failCheck("list", err))
		return finish()
	}
	res.Found = found(full, disc)
	if len(disc.Partitions) == 0 && len(disc.Excluded) > 0 {
		add(Check{Name: "list", Status: 404, Explanation: fmt.Sprintf("no log folders under the prefix %q are in the connector's regions (%s); the bucket holds %s.",
			full.Prefix, strings.Join(full.Regions, ", "), strings.Join(disc.Regions, ", ")),
			Recommendation: "Edit the connector's regions (--regions), or clear them to collect every region."})
		return finish()
	}
	if len(disc.Partitions) == 0 {
		add(Check{Name: "list", Status: 404, Explanation: fmt.Sprintf("no log objects were found under the prefix %q.", full.Prefix),
			Recommendation: "Check the prefix (AWSLogs/<account>/CloudTrail/<region>, without a trailing '/'), the bucket, and that AWS delivers logs there."})
		return finish()
	}
	wildcard := strings.Contains(full.Prefix, "*")
	if !wildcard {
		add(Check{Name: "list", OK: true, Detail: foundLine(res.Found)})
		checks, preview, key := a.readCheck(ctx, tb, full, disc.Partitions)
		for _, ch := range checks {
			add(ch)
		}
		res.Preview, res.Object = preview, key
		return finish()
	}
	add(Check{Name: "list", OK: true, Detail: foundLine(res.Found) + "; accounts: " + strings.Join(disc.Accounts, ", ")})
	for _, acct := range disc.Accounts {
		var parts []prefix.Partition
		for _, p := range disc.Partitions {
			if p.Account == acct {
				parts = append(parts, p)
			}
		}
		ar := AccountResult{Account: acct}
		if len(parts) == 0 {
			ar.Checks = []Check{{Name: "list", Status: 404, Explanation: "no log folders for this account under the prefix.", Recommendation: "Check that the trail delivers this account's logs here."}}
		} else {
			checks, preview, key := a.readCheck(ctx, tb, full, parts)
			ar.Checks = checks
			if res.Preview == nil {
				res.Preview, res.Object = preview, key
			}
		}
		ar.OK = true
		for _, ch := range ar.Checks {
			if !ch.OK && !ch.Skipped {
				ar.OK = false
			}
		}
		res.Accounts = append(res.Accounts, ar)
	}
	return finish()
}

// describeKeys names the first three of keys and counts the rest.
func describeKeys(keys []string) string { return describeOf(keys, len(keys)) }

// describeOf names the first three of keys, the start of a list of total.
func describeOf(keys []string, total int) string {
	if total > 3 && len(keys) >= 3 {
		return strings.Join(keys[:3], ", ") + fmt.Sprintf(" and %d more", total-3)
	}
	return strings.Join(keys, ", ")
}

// sampleObjects is how many of the newest objects Test reads, at most,
// looking for one with records: CloudTrail delivers empty files
// ({"Records":[]}) when an account is quiet.
const sampleObjects = 5

// readCheck finds the newest objects of the partitions, reads them (which
// needs kms:Decrypt when they are SSE-KMS encrypted) and decodes the first
// record of the newest one that has records.
func (a *App) readCheck(ctx context.Context, b testBucket, c *connector.Connector, parts []prefix.Partition) ([]Check, map[string]any, string) {
	newest, err := newestObjects(ctx, b, c, parts, sampleObjects)
	if err != nil {
		return []Check{failCheck("read", err)}, nil, ""
	}
	if len(newest) == 0 {
		return []Check{{Name: "read", Status: 404, Explanation: "the folders exist but hold no log objects from the last 31 days.",
			Recommendation: "Check that AWS is still delivering logs to this prefix."}}, nil, ""
	}
	var empty, bad []string
	var firstBad, lastEmpty []Check
	for _, obj := range newest {
		checks, preview, records := a.readOne(ctx, b, c, obj)
		last := Check{}
		if len(checks) > 0 {
			last = checks[len(checks)-1]
		}
		switch {
		case !last.OK && last.Name == "decode":
			// One object that does not decode is damage the collector
			// quarantines; it says nothing of the connector until every
			// sampled object fails the same way.
			bad = append(bad, obj.Key)
			if firstBad == nil {
				firstBad = checks
			}
			continue
		case records != 0 || !last.OK:
			if len(bad) > 0 && last.OK {
				checks[len(checks)-1].Detail += fmt.Sprintf("; %s could not be decoded and will be quarantined with the reason (trawl quarantine list): %s",
					Plural(len(bad), "newer object"), strings.Join(bad, ", "))
			}
			return checks, preview, obj.Key
		}
		// Readable but empty: look at the next newest.
		empty = append(empty, obj.Key)
		lastEmpty = checks
	}
	if firstBad != nil {
		d := &firstBad[len(firstBad)-1]
		none := fmt.Sprintf("none of the %d newest objects that hold data could be decoded", len(bad))
		if len(bad) == 1 {
			none = "the newest object that holds data could not be decoded"
		}
		d.Explanation = fmt.Sprintf("%s (%s): %s", none, strings.Join(bad, ", "), d.Explanation)
		return firstBad, nil, bad[0]
	}
	empties := fmt.Sprintf("the %d newest objects are readable but hold no records", len(empty))
	if len(empty) == 1 {
		empties = "the newest object is readable but holds no records"
	}
	lastEmpty[len(lastEmpty)-1].Detail = empties + " (AWS writes empty files when there is no activity); nothing to decode yet"
	return lastEmpty, nil, empty[len(empty)-1]
}

// newestObjects lists the most recent day folders of the partitions (the
// last 2 days, else the last 31) and returns up to k newest log objects,
// newest first.
func newestObjects(ctx context.Context, b testBucket, c *connector.Connector, parts []prefix.Partition, k int) ([]source.Object, error) {
	f, _ := collect.FormatFor(c.SubType)
	var top []source.Object
	keep := func(o source.Object) {
		if f.SkipReason(o.Key) != "" {
			return
		}
		top = append(top, o)
		sort.Slice(top, func(i, j int) bool { return top[i].LastModified.After(top[j].LastModified) })
		if len(top) > k {
			top = top[:k]
		}
	}
	now := time.Now()
	for _, p := range parts {
		if p.Kind == prefix.Flat {
			_, objs, err := b.ListLevel(ctx, p.Prefix)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				keep(o)
			}
			continue
		}
		if p.Kind == prefix.TimeNamed {
			// Names are delivery times: the last two days, else the last 31.
			for _, back := range []time.Duration{48 * time.Hour, 31 * 24 * time.Hour} {
				before := len(top)
				if _, err := p.ListNamedByTime(ctx, b, now.Add(-back), now, func(o source.Object) error { keep(o); return nil }); err != nil {
					return nil, err
				}
				if len(top) > before {
					break
				}
			}
			continue
		}
		for _, back := range []time.Duration{48 * time.Hour, 31 * 24 * time.Hour} {
			before := len(top)
			prefixes := p.Prefixes(now.Add(-back), now)
			for i := len(prefixes) - 1; i >= 0 && len(top)-before < k; i-- {
				if err := b.List(ctx, prefixes[i], "", func(o source.Object) error { keep(o); return nil }); err != nil {
					return nil, err
				}
			}
			if len(top) > before {
				break
			}
		}
	}
	return top, nil
}

// readOne reads one object and decodes records until one normalizes. It
// returns the checks, a preview of that record, and how many records it
// met (0: the object is empty).
func (a *App) readOne(ctx context.Context, b testBucket, c *connector.Connector, obj source.Object) ([]Check, map[string]any, int) {
	var checks []Check
	_, sse, herr := b.Head(ctx, obj.Key)
	rc, err := b.Open(ctx, obj)
	if err != nil {
		var se *source.Error
		if errors.As(err, &se) && strings.Contains(se.Explanation, "KMS") {
			return append(checks, Check{Name: "read", OK: true, Detail: "the object exists: " + obj.Key}, failCheck("decrypt", err)), nil, -1
		}
		return append(checks, failCheck("read", err)), nil, -1
	}
	defer rc.Close()
	checks = append(checks, Check{Name: "read", OK: true, Detail: fmt.Sprintf("%s (%d bytes)", obj.Key, obj.Size)})
	switch {
	case herr == nil && strings.Contains(sse, "kms"):
		checks = append(checks, Check{Name: "decrypt", OK: true, Detail: "SSE-KMS: the object was decrypted (kms:Decrypt is granted)"})
	case herr == nil && sse != "":
		checks = append(checks, Check{Name: "decrypt", OK: true, Detail: "server-side encryption " + sse + ": read"})
	default:
		checks = append(checks, Check{Name: "decrypt", OK: true, Skipped: true, Detail: "the object is not SSE-KMS encrypted"})
	}
	f, _ := collect.FormatFor(c.SubType)
	dr, _, err := format.Open(io.LimitReader(rc, 16<<20), format.DefaultLimits())
	if err != nil {
		return append(checks, Check{Name: "decode", Status: 422, Explanation: err.Error(), Recommendation: "Check the connector's sub type and file type match the objects."}), nil, -1
	}
	dec := f.NewDecoder(dr, obj)
	if cl, ok := dec.(io.Closer); ok {
		defer cl.Close()
	}
	var last error
	seen := 0
	for i := 0; i < 50; i++ {
		raw, err := dec.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				last = err
			}
			break
		}
		seen++
		rec := interflow.New(f.Schema)
		rec.Stamp(interflow.Provenance{Tenant: c.Tenant, Connector: c.Name, Bucket: c.Bucket, Key: obj.Key, ETag: obj.ETag}, int64(i), f.Class, f.Category)
		if err := dec.Normalize(raw, rec); err != nil {
			last = err
			continue
		}
		return append(checks, Check{Name: "decode", OK: true, Detail: fmt.Sprintf("decoded as %s", f.Class)}), preview(rec), seen
	}
	if seen == 0 && last == nil {
		return append(checks, Check{Name: "decode", OK: true, Detail: "the object holds no records"}), nil, 0
	}
	msg := "no record could be decoded"
	if last != nil {
		msg += ": " + last.Error()
	}
	return append(checks, Check{Name: "decode", Status: 422, Explanation: msg + ".", Recommendation: "Check the connector's sub type (" + connector.SubTypeChoices() + ") matches the objects under the prefix."}), nil, seen
}

func preview(rec *interflow.Record) map[string]any {
	out := map[string]any{}
	for j, fl := range rec.Schema.Fields {
		if v := rec.Value(j); v != nil {
			if s, ok := v.(string); ok && len(s) > 2000 {
				v = s[:2000] + "..."
			}
			out[fl.Name] = v
		}
	}
	return out
}

func testKey(id string) string { return "test:" + id }

func (a *App) recordTest(ctx context.Context, id string, res *ConnectionCheck) {
	b, _ := json.Marshal(LastCheck{At: time.Now().UTC(), OK: res.OK, Summary: res.Summary})
	if err := a.lake.SetMeta(context.WithoutCancel(ctx), testKey(id), string(b)); err != nil {
		a.log.Warn("could not record the test outcome", "connector", id, "err", err)
	}
}

func (a *App) lastTest(ctx context.Context, id string) *LastCheck {
	v, err := a.lake.Meta(ctx, testKey(id))
	if err != nil || v == "" {
		return nil
	}
	var t LastCheck
	if json.Unmarshal([]byte(v), &t) != nil {
		return nil
	}
	return &t
}

// Plural counts a noun in words: "1 account", "3 accounts".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// allOf is "its one account" or "all 3 accounts".
func allOf(n int, noun string) string {
	if n == 1 {
		return "its one " + noun
	}
	return "all " + Plural(n, noun)
}

// queueCheck checks the connector's queue (GetQueueAttributes): that it
// exists and these credentials may use it, and whether messages arrive.
func (a *App) queueCheck(ctx context.Context, b collect.Bucket, full *connector.Connector, connectErr error) Check {
	if connectErr != nil {
		return failCheck("queue", connectErr)
	}
	conn, err := queueOf(b, full)
	if err != nil {
		return failCheck("queue", err)
	}
	attrs, err := conn.q.Attributes(ctx)
	if err != nil {
		return failCheck("queue", err)
	}
	detail := fmt.Sprintf("the queue answered: about %s waiting, %d in flight, %d delayed; visibility timeout %s",
		Plural(int(attrs.Visible), "message"), attrs.InFlight, attrs.Delayed, attrs.Visibility)
	if attrs.DeadLetter != "" {
		detail += fmt.Sprintf("; dead-letter queue %s after %d receives", attrs.DeadLetter, attrs.MaxReceiveCount)
	} else {
		detail += "; no dead-letter queue (with --queue-ignored keep, a message that never collects comes back at longer and longer intervals)"
	}
	if attrs.KMSKey != "" {
		detail += "; encrypted with KMS key " + attrs.KMSKey + " (kms:Decrypt is needed)"
	}
	st := a.queues.of(full.ID)
	if attrs.Visible+attrs.InFlight+attrs.Delayed == 0 && st.received.Load() == 0 {
		detail += ". No message has arrived yet: if AWS is delivering objects, check the bucket's event notification to this queue (or the SNS subscription, or the EventBridge rule) and the queue's access policy"
	}
	return Check{Name: "queue", OK: true, Detail: detail}
}
