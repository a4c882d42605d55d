// Package collect runs one collection pass of a connector: list the objects
// under its prefix, skip those already checkpointed, stream each remaining
// object through its decoder and normalizer, and commit records together
// with the object's checkpoint. A crash at any point loses nothing and a
// rerun adds nothing twice, because a batch and the checkpoint position it
// advances to commit in one transaction.
package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

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
	Open(ctx context.Context, obj source.Object) (io.ReadCloser, error)
}

// Store is where records and checkpoints are committed.
type Store interface {
	ObjectStates(ctx context.Context, connectorID string) (map[string]lake.ObjectState, error)
	Commit(ctx context.Context, b *lake.Batch) error
}

// Options tune a run.
type Options struct {
	Workers    int   // objects decoded in parallel (default 2)
	BatchSize  int   // records per commit (default 5000)
	BatchBytes int64 // raw bytes per commit (default 16 MiB)
	Limits     format.Limits
	Logger     *slog.Logger
	// Keep decides whether a record is stored (log filters); nil keeps all.
	Keep func(interflow.Record) bool
	// Progress, if set, is called with the running totals after each object.
	Progress func(Stats)
	// From and To, when set, restrict the run to objects last modified in
	// [From, To) (backfills).
	From, To time.Time
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
	states, err := st.ObjectStates(ctx, c.ID)
	if err != nil {
		return Stats{}, err
	}

	var (
		mu    sync.Mutex
		total Stats
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

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// One writer commits what the workers decode, so decoding the next
	// batch overlaps the commit of the last one. The channel is small:
	// when the lake is slower than the decoders, they block (never drop).
	commits := make(chan pending, opt.Workers)
	var fatal error
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for p := range commits {
			if fatal != nil {
				continue // after a failed commit nothing else is committed
			}
			if err := st.Commit(ctx, p.batch); err != nil {
				fatal = err
				cancel()
				continue
			}
			report(p.stats)
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
				err := collectObject(ctx, c, b, f, obj, states[obj.Key], opt, log, send)
				if err != nil && ctx.Err() == nil {
					log.Warn("object failed; it will be retried at the next run", "key", obj.Key, "err", err)
					report(Stats{Errors: 1, FirstError: err})
				}
			}
		}()
	}

	listPrefix := tmpl.ListPrefix()
	listErr := b.List(ctx, listPrefix, "", func(o source.Object) error {
		if !tmpl.Match(o.Key) || states[o.Key].Done {
			return nil
		}
		if !o.LastModified.IsZero() && o.LastModified.Before(c.Start) {
			return nil
		}
		if !opt.From.IsZero() && o.LastModified.Before(opt.From) || !opt.To.IsZero() && !o.LastModified.Before(opt.To) {
			return nil
		}
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
	})
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
	return total, nil
}

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
			Position: pos, Offset: offset, Scope: scope, Reason: reason, Raw: string(format.Cap(raw, 64<<10))}
	}

	rc, err := b.Open(ctx, obj)
	if err != nil {
		return fmt.Errorf("open %s: %w", obj.Key, err)
	}
	defer rc.Close()
	counted := &countReader{r: rc}
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
			if err := dec.Normalize(raw, rec); err != nil {
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
	st.Bytes = counted.n
	if !obj.LastModified.IsZero() {
		t := obj.LastModified
		st.Newest = &t
	}
	return flush(true)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
