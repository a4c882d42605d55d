// Package collect runs one collection pass of a connector: list the objects
// under its prefix, skip those already checkpointed, stream each remaining
// object through its decoder and normalizer, and commit records together
// with the object's checkpoint. A crash at any point loses nothing and a
// rerun adds nothing twice, because a batch and the checkpoint position it
// advances to commit in one transaction.
package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/lake"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/source"
)

// Bucket is where a connector's objects are read from.
type Bucket interface {
	Name() string
	List(ctx context.Context, prefix, startAfter string, fn func(source.Object) error) error
	ListLevel(ctx context.Context, prefix string) ([]string, []source.Object, error)
	Open(ctx context.Context, obj source.Object) (io.ReadCloser, error)
}

// Store is where records, checkpoints and listing watermarks are kept.
type Store interface {
	ObjectStatesSince(ctx context.Context, connectorID string, since time.Time) (map[string]lake.ObjectState, error)
	ObjectStateOf(ctx context.Context, connectorID, key string) (lake.ObjectState, bool, error)
	ObjectStatesOf(ctx context.Context, connectorID string, keys []string) (map[string]lake.ObjectState, error)
	Watermarks(ctx context.Context, connectorID string) (map[string]time.Time, error)
	SetWatermarks(ctx context.Context, connectorID string, w map[string]time.Time) error
	CommitMany(ctx context.Context, bs []*lake.Batch) error
}

// Options tune a run.
type Options struct {
	Workers    int   // objects decoded in parallel (default 2)
	BatchSize  int   // records per commit (default 5000)
	BatchBytes int64 // raw bytes per commit (default 16 MiB)
	Limits     format.Limits
	Logger     *slog.Logger
	// Keep decides whether a record is stored (log filters); nil keeps all.
	Keep func(*interflow.Record) bool
	// Progress, if set, is called with the running totals after each object.
	Progress func(Stats)
	// From and To, when set, make the run a backfill: every partition is
	// listed over [From, To) whatever its watermark, and only objects last
	// modified in that window are collected (those already collected are
	// skipped, so nothing is stored twice).
	From, To time.Time
	// Lookback is how far before a partition's watermark listing starts, so
	// objects delivered late under an earlier key are still found (default:
	// the connector's, else 1 hour).
	Lookback time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// Stats count what a run did.
type Stats struct {
	Objects      int64      `json:"objects"`      // objects finished
	Records      int64      `json:"records"`      // records stored
	Bytes        int64      `json:"bytes"`        // compressed bytes read
	Decompressed int64      `json:"decompressed"` // decompressed bytes read
	Skipped      int64      `json:"skipped"`      // objects skipped by design (digests)
	Quarantined  int64      `json:"quarantined"`  // records or object remainders quarantined
	Dropped      int64      `json:"dropped"`      // records dropped by log filters
	Errors       int64      `json:"errors"`       // objects that failed and will be retried
	Pending      int64      `json:"pending"`      // objects listed to collect
	Listings     int64      `json:"listings"`     // listing requests made (discovery and partitions)
	Partitions   int64      `json:"partitions"`   // partitions found
	Newest       *time.Time `json:"newest_object,omitempty"`
	// FirstError is the first failure, classified when it came from the store.
	FirstError error `json:"-"`
}

func (s *Stats) add(o Stats) {
	s.Objects += o.Objects
	s.Records += o.Records
	s.Bytes += o.Bytes
	s.Decompressed += o.Decompressed
	s.Skipped += o.Skipped
	s.Quarantined += o.Quarantined
	s.Dropped += o.Dropped
	s.Errors += o.Errors
	s.Listings += o.Listings
	s.Partitions += o.Partitions
	if o.Newest != nil && (s.Newest == nil || o.Newest.After(*s.Newest)) {
		t := *o.Newest
		s.Newest = &t
	}
	if s.FirstError == nil {
		s.FirstError = o.FirstError
	}
}

// Run collects one connector once.
func Run(ctx context.Context, c *connector.Connector, b Bucket, st Store, opt Options) (Stats, error) {
	if opt.Workers <= 0 {
		opt.Workers = 2
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 5000
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = 16 << 20
	}
	if opt.Limits == (format.Limits{}) {
		opt.Limits = format.DefaultLimits()
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("connector", c.Name, "tenant", c.Tenant)
	f, ok := FormatFor(c.SubType)
	if !ok {
		return Stats{}, fmt.Errorf("connector %s: sub type %q cannot be decoded by this version of Trawl", c.Name, c.SubType)
	}
	tmpl, err := prefix.Parse(c.Prefix, prefix.Options{AllowWildcard: c.SubType != connector.WAF})
	if err != nil {
		return Stats{}, fmt.Errorf("connector %s: %w", c.Name, err)
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	lookback := opt.Lookback
	if lookback <= 0 {
		lookback = c.Lookback.D()
	}
	if lookback <= 0 {
		lookback = connector.DefaultLookback
	}
	backfill := !opt.From.IsZero() || !opt.To.IsZero()

	// Plan: discover partitions (accounts, regions: again every run, so new
	// ones are picked up), then list only the days that can hold objects
	// newer than each partition's watermark.
	disc, err := prefix.Discover(ctx, b, tmpl, RelevantFor(c.SubType), c.Region)
	if err != nil {
		return Stats{}, fmt.Errorf("connector %s: discover partitions: %w", c.Name, err)
	}
	marks, err := st.Watermarks(ctx, c.ID)
	if err != nil {
		return Stats{}, err
	}
	type window struct{ from, to time.Time }
	windows := make([]window, len(disc.Partitions))
	since := now()
	for i, p := range disc.Partitions {
		w := window{from: c.Start, to: now()}
		if m, ok := marks[p.Prefix]; ok && m.Add(-lookback).After(w.from) {
			w.from = m.Add(-lookback)
		}
		if backfill {
			w = window{from: opt.From, to: opt.To}
			if w.from.IsZero() || w.from.Before(c.Start) {
				w.from = c.Start
			}
			if w.to.IsZero() {
				w.to = now()
			}
		}
		windows[i] = w
		if w.from.Before(since) {
			since = w.from
		}
	}
	// Checkpoints of objects the listed days can hold: AWS writes an
	// object into the folder of the day it delivers it, so objects in the
	// listed folders were last modified after the first listed day began
	// (less a margin for clock skew). Anything older met in a folder is
	// looked up one by one.
	since = since.UTC().Truncate(24 * time.Hour).Add(-2 * time.Hour)
	states, err := st.ObjectStatesSince(ctx, c.ID, since)
	if err != nil {
		return Stats{}, err
	}
	var mu sync.Mutex // guards states and the maps below
	// prefetch loads the checkpoints of a page of objects older than
	// since (which the states above do not hold) in one query.
	prefetch := func(objs []source.Object) error {
		var keys []string
		for _, o := range objs {
			if _, ok := states[o.Key]; !ok && o.LastModified.Before(since) {
				keys = append(keys, o.Key)
			}
		}
		got, err := st.ObjectStatesOf(ctx, c.ID, keys)
		if err != nil {
			return err
		}
		mu.Lock()
		for _, k := range keys {
			states[k] = got[k] // a zero state: looked up, never seen
		}
		mu.Unlock()
		return nil
	}
	stateOf := func(o source.Object) (lake.ObjectState, error) {
		mu.Lock()
		s, ok := states[o.Key]
		mu.Unlock()
		if ok || !o.LastModified.Before(since) {
			return s, nil
		}
		s, _, err := st.ObjectStateOf(ctx, c.ID, o.Key)
		return s, err
	}

	var (
		total = Stats{Listings: int64(disc.Requests), Partitions: int64(len(disc.Partitions))}
		// per partition: newest object done, oldest object failed
		doneMax = map[int]time.Time{}
		failMin = map[int]time.Time{}
		partOf  = map[string]int{}
	)
	report := func(s Stats) {
		mu.Lock()
		total.add(s)
		cp := total
		mu.Unlock()
		if opt.Progress != nil {
			opt.Progress(cp)
		}
	}
	markDone := func(key string, lm time.Time, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		p, known := partOf[key]
		if !known {
			return
		}
		if ok {
			if lm.After(doneMax[p]) {
				doneMax[p] = lm
			}
		} else if f, seen := failMin[p]; !seen || lm.Before(f) {
			failMin[p] = lm
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// One writer commits what the workers decode, so decoding the next
	// batch overlaps the commit of the last one, and many small objects
	// share a transaction. The channel is small: when the lake is slower
	// than the decoders, they block (never drop).
	commits := make(chan pending, 4*opt.Workers)
	var fatal error
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for p := range commits {
			// Group commit: wait briefly for more small batches, so a
			// stream of tiny objects shares transactions.
			group := []pending{p}
			records := len(p.batch.Records)
			linger := time.NewTimer(groupLinger)
		drain:
			for records < opt.BatchSize && len(group) < 256 {
				select {
				case q, ok := <-commits:
					if !ok {
						break drain
					}
					group = append(group, q)
					records += len(q.batch.Records)
				case <-linger.C:
					break drain
				}
			}
			linger.Stop()
			if fatal != nil {
				continue // after a failed commit nothing else is committed
			}
			moved, err := commitSalvaging(ctx, st, mergeByObject(group), log)
			if moved > 0 {
				report(Stats{Records: -int64(moved), Quarantined: int64(moved)})
			}
			if err != nil {
				fatal = err
				cancel()
				continue
			}
			for _, q := range group {
				report(q.stats)
				if q.batch.Object.Done {
					markDone(q.batch.Object.Key, q.batch.Object.LastModified, true)
				}
			}
		}
	}()
	send := func(p pending) error {
		select {
		case commits <- p:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	work := make(chan source.Object) // unbuffered: listing waits for workers
	var wg sync.WaitGroup
	for i := 0; i < opt.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range work {
				mu.Lock()
				prev := states[obj.Key]
				mu.Unlock()
				err := collectObject(ctx, c, b, f, obj, prev, opt, log, send)
				if err != nil && ctx.Err() == nil {
					log.Warn("object failed; it will be retried at the next run", "key", obj.Key, "err", err)
					report(Stats{Errors: 1, FirstError: err})
					markDone(obj.Key, obj.LastModified, false)
				}
			}
		}()
	}

	consider := func(part int, o source.Object) error {
		if !tmpl.Match(o.Key) {
			return nil
		}
		mu.Lock()
		if _, dup := partOf[o.Key]; dup {
			mu.Unlock()
			return nil // listed twice (overlapping template expansions)
		}
		partOf[o.Key] = part
		mu.Unlock()
		if !o.LastModified.IsZero() && o.LastModified.Before(c.Start) {
			return nil
		}
		if backfill && (!opt.From.IsZero() && o.LastModified.Before(opt.From) || !opt.To.IsZero() && !o.LastModified.Before(opt.To)) {
			return nil
		}
		prev, err := stateOf(o)
		if err != nil {
			return err
		}
		if prev.Done {
			markDone(o.Key, o.LastModified, true)
			return nil
		}
		mu.Lock()
		states[o.Key] = prev
		mu.Unlock()
		if reason := f.SkipReason(o.Key); reason != "" {
			// Checkpointed so it is neither read nor reported again.
			log.Debug("skipping object", "key", o.Key, "reason", reason)
			return send(pending{
				batch: &lake.Batch{ConnectorID: c.ID, Schema: f.Schema, Object: lake.ObjectState{Key: o.Key,
					Version: versionOf(o), Done: true, Size: o.Size, LastModified: o.LastModified}},
				stats: Stats{Skipped: 1},
			})
		}
		mu.Lock()
		total.Pending++
		mu.Unlock()
		select {
		case work <- o:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var listErr error
	for i, p := range disc.Partitions {
		if p.Kind == prefix.Flat {
			_, objs, err := b.ListLevel(ctx, p.Prefix)
			report(Stats{Listings: int64(len(objs)/1000 + 1)})
			// A flat folder is listed whole every run: its objects'
			// checkpoints are fetched a page at a time, so a steady-state
			// run costs one catalog query per 1,000 objects, not one each.
			for start := 0; err == nil && start < len(objs); start += flatPage {
				page := objs[start:min(start+flatPage, len(objs))]
				if err = prefetch(page); err != nil {
					break
				}
				for _, o := range page {
					if err = consider(i, o); err != nil {
						break
					}
				}
			}
			if err != nil {
				listErr = err
				break
			}
			continue
		}
		for _, pre := range p.Prefixes(windows[i].from, windows[i].to) {
			err := listAll(ctx, b, pre, func(o source.Object) error { return consider(i, o) }, report)
			if err != nil {
				listErr = err
				break
			}
		}
		if listErr != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	close(commits)
	<-writerDone
	if fatal != nil {
		return total, fmt.Errorf("connector %s: %w", c.Name, fatal)
	}
	if listErr != nil {
		return total, fmt.Errorf("connector %s: %w", c.Name, listErr)
	}
	if err := ctx.Err(); err != nil {
		return total, err
	}
	if !backfill {
		// A partition's watermark is its newest collected object, held
		// back to its oldest failed one so that object's day is listed
		// again. A lower watermark only costs listing; never a record.
		next := map[string]time.Time{}
		for i, p := range disc.Partitions {
			w, ok := doneMax[i]
			if f, failed := failMin[i]; failed && (!ok || f.Before(w)) {
				w, ok = f, true
			}
			if old, had := marks[p.Prefix]; ok && (!had || !w.Equal(old)) {
				next[p.Prefix] = w
			}
		}
		if err := st.SetWatermarks(ctx, c.ID, next); err != nil {
			return total, err
		}
	}
	return total, nil
}

// listAll lists a prefix recursively, counting its requests.
func listAll(ctx context.Context, b Bucket, pre string, fn func(source.Object) error, report func(Stats)) error {
	pages := int64(0)
	n := 0
	err := b.List(ctx, pre, "", func(o source.Object) error {
		n++
		if n%1000 == 1 {
			pages++
		}
		return fn(o)
	})
	if pages == 0 {
		pages = 1
	}
	report(Stats{Listings: pages})
	return err
}

// mergeByObject folds batches of the same object into one, so a
// transaction writes each object's checkpoint once.
func mergeByObject(group []pending) []*lake.Batch {
	var out []*lake.Batch
	idx := map[string]int{}
	for _, p := range group {
		b := p.batch
		if i, ok := idx[b.Object.Key]; ok {
			m := out[i]
			merged := &lake.Batch{ConnectorID: m.ConnectorID, Schema: m.Schema, Object: b.Object,
				Records:    append(append([]*interflow.Record(nil), m.Records...), b.Records...),
				Quarantine: append(append([]lake.QuarantineItem(nil), m.Quarantine...), b.Quarantine...)}
			out[i] = merged
			continue
		}
		idx[b.Object.Key] = len(out)
		out = append(out, b)
	}
	return out
}

// RelevantFor keeps discovery inside the sub type's service folders.
func RelevantFor(st connector.SubType) prefix.Relevant {
	return func(dir string) bool {
		d := strings.TrimSuffix(dir, "/")
		switch st {
		case connector.CloudTrail:
			return strings.HasPrefix(d, "CloudTrail") && d != "CloudTrail-Digest"
		case connector.VPCFlow:
			return d == "vpcflowlogs" || d == "aws-service=vpcflowlogs"
		case connector.WAF:
			return d == "WAFLogs"
		}
		return true
	}
}

// flatPage is how many objects of a flat folder share a catalog lookup.
const flatPage = 1000

// groupLinger is how long the writer waits to fill a transaction with more
// small batches.
const groupLinger = 20 * time.Millisecond

// pending is a batch on its way to the writer, with the counts it adds
// once committed.
type pending struct {
	batch *lake.Batch
	stats Stats
}

func versionOf(o source.Object) string {
	return interflow.Provenance{ETag: o.ETag, Size: o.Size, LastModified: o.LastModified}.ObjectVersion()
}

// collectObject streams one object from its checkpoint position to the end,
// handing batches to send. It returns an error when the object must be
// retried at the next run (a read failure); what was sent stays committed.
func collectObject(ctx context.Context, c *connector.Connector, b Bucket, f Format, obj source.Object, prev lake.ObjectState,
	opt Options, log *slog.Logger, send func(pending) error) error {
	prov := interflow.Provenance{Tenant: c.Tenant, Connector: c.Name, Bucket: b.Name(), Key: obj.Key, ETag: obj.ETag, Size: obj.Size, LastModified: obj.LastModified}
	state := lake.ObjectState{Key: obj.Key, Version: prov.ObjectVersion(), Position: prev.Position, Records: prev.Records,
		Quarantined: prev.Quarantined, Size: obj.Size, LastModified: obj.LastModified}
	if prev.Version != "" && prev.Version != state.Version && prev.Position > 0 {
		log.Warn("object changed after it was partly collected; continuing from the committed position", "key", obj.Key, "was", prev.Version, "now", state.Version)
	}
	quarantine := func(scope string, pos, offset int64, reason string, raw []byte) lake.QuarantineItem {
		return lake.QuarantineItem{Tenant: c.Tenant, Connector: c.Name, Bucket: b.Name(), Key: obj.Key, Version: state.Version,
			Position: pos, Offset: offset, Scope: scope, Reason: reason, Raw: bytes.Clone(format.Cap(raw, 64<<10))}
	}

	rc, err := b.Open(ctx, obj)
	if err != nil {
		return fmt.Errorf("open %s: %w", obj.Key, err)
	}
	defer rc.Close()
	counted := &format.CountingReader{R: rc}
	batch := &lake.Batch{ConnectorID: c.ID, Schema: f.Schema}
	var batchBytes int64
	var st Stats
	flush := func(done bool) error {
		state.Done = done
		batch.Object = state
		st.Records += int64(len(batch.Records))
		st.Quarantined += int64(len(batch.Quarantine))
		if err := send(pending{batch: batch, stats: st}); err != nil {
			return err
		}
		batch = &lake.Batch{ConnectorID: c.ID, Schema: f.Schema}
		batchBytes = 0
		st = Stats{}
		return nil
	}

	var pos int64
	dr, decompressed, err := format.Open(counted, opt.Limits)
	if err != nil {
		var oe *format.ObjectError
		if !errors.As(err, &oe) {
			return fmt.Errorf("read %s: %w", obj.Key, err)
		}
		batch.Quarantine = append(batch.Quarantine, quarantine("object", 0, 0, oe.Error(), nil))
		state.Quarantined++
	} else {
		dec := f.NewDecoder(dr, obj)
		if c, ok := dec.(io.Closer); ok {
			defer c.Close()
		}
		for {
			raw, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var oe *format.ObjectError
				if errors.As(err, &oe) {
					log.Warn("quarantining the rest of an object", "key", obj.Key, "record", pos, "reason", oe.Error())
					if pos >= state.Position {
						batch.Quarantine = append(batch.Quarantine, quarantine("object", pos, oe.Offset, oe.Error(), nil))
						state.Quarantined++
					}
					break
				}
				// A read failure: what is committed stays committed and the
				// object resumes from its checkpoint at the next run.
				if ferr := flush(false); ferr != nil {
					return ferr
				}
				return fmt.Errorf("read %s at record %d: %w", obj.Key, pos, err)
			}
			if pos < state.Position {
				pos++ // committed (or quarantined) by an earlier run
				continue
			}
			rec := interflow.New(f.Schema)
			rec.Stamp(prov, pos, f.Class, f.Category)
			if bad := invalidUTF8(raw); bad >= 0 {
				// AWS writes UTF-8; such a record is corrupt. Its bytes
				// are kept exactly in the quarantine.
				batch.Quarantine = append(batch.Quarantine, quarantine("record", pos, dec.Offset(),
					fmt.Sprintf("the record is not valid UTF-8 (byte %d of %d): AWS writes UTF-8, so the object is damaged; its bytes are kept here exactly", bad, len(raw)), raw))
				state.Quarantined++
			} else if err := dec.Normalize(raw, rec); err != nil {
				var re *format.RecordError
				reason := err.Error()
				if errors.As(err, &re) {
					reason = re.Reason
				}
				batch.Quarantine = append(batch.Quarantine, quarantine("record", pos, dec.Offset(), reason, raw))
				state.Quarantined++
			} else if opt.Keep != nil && !opt.Keep(rec) {
				st.Dropped++
			} else {
				batch.Records = append(batch.Records, rec)
				state.Records++
				batchBytes += int64(len(raw))
			}
			pos++
			state.Position = pos
			if len(batch.Records) >= opt.BatchSize || batchBytes >= opt.BatchBytes {
				if err := flush(false); err != nil {
					return err
				}
			}
		}
		st.Decompressed = decompressed()
	}
	if pos > state.Position {
		state.Position = pos
	}
	st.Objects = 1
	st.Bytes = counted.N
	if !obj.LastModified.IsZero() {
		t := obj.LastModified
		st.Newest = &t
	}
	return flush(true)
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8,
// or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
