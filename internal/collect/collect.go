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

	work := make(chan source.Object) // unbuffered: listing waits for workers
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var fatalOnce sync.Once
	var fatal error
	for i := 0; i < opt.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range work {
				s, err := collectObject(ctx, c, b, st, f, obj, states[obj.Key], opt, log)
				if err != nil {
					var ce *commitError
					if errors.As(err, &ce) || ctx.Err() != nil {
						// The lake refused a commit, or we are shutting
						// down: stop the run, nothing is lost.
						fatalOnce.Do(func() { fatal = err; cancel() })
						report(s)
						continue
					}
					log.Warn("object failed; it will be retried at the next run", "key", obj.Key, "err", err)
					s.Errors++
					if s.FirstError == nil {
						s.FirstError = err
					}
				}
				report(s)
			}
		}()
	}

	listPrefix := tmpl.ListPrefix()
	listErr := b.List(ctx, listPrefix, "", func(o source.Object) error {
		if !tmpl.Match(o.Key) {
			return nil
		}
		if reason := f.SkipReason(o.Key); reason != "" {
			if !states[o.Key].Done {
				log.Debug("skipping object", "key", o.Key, "reason", reason)
				report(Stats{Skipped: 1})
			}
			return nil
		}
		if states[o.Key].Done {
			return nil
		}
		if !o.LastModified.IsZero() && o.LastModified.Before(c.Start) {
			return nil
		}
		if !opt.From.IsZero() && o.LastModified.Before(opt.From) || !opt.To.IsZero() && !o.LastModified.Before(opt.To) {
			return nil
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
	if fatal != nil {
		return total, fatal
	}
	if listErr != nil {
		if ctx.Err() != nil && errors.Is(listErr, context.Canceled) {
			return total, listErr
		}
		return total, fmt.Errorf("connector %s: %w", c.Name, listErr)
	}
	return total, nil
}

type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// collectObject streams one object from its checkpoint position to the end.
func collectObject(ctx context.Context, c *connector.Connector, b Bucket, st Store, f Format, obj source.Object, prev lake.ObjectState, opt Options, log *slog.Logger) (Stats, error) {
	var s Stats
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
		return s, fmt.Errorf("open %s: %w", obj.Key, err)
	}
	defer rc.Close()
	counted := &countReader{r: rc}
	batch := &lake.Batch{ConnectorID: c.ID, Schema: f.Schema}
	var batchBytes int64
	commit := func(done bool) error {
		state.Done = done
		batch.Object = state
		n, q := int64(len(batch.Records)), int64(len(batch.Quarantine))
		if err := st.Commit(ctx, batch); err != nil {
			return &commitError{err}
		}
		s.Records += n
		s.Quarantined += q
		batch = &lake.Batch{ConnectorID: c.ID, Schema: f.Schema}
		batchBytes = 0
		return nil
	}

	dr, decompressed, err := format.Open(counted, opt.Limits)
	var pos int64
	if err != nil {
		var oe *format.ObjectError
		if !errors.As(err, &oe) {
			return s, fmt.Errorf("read %s: %w", obj.Key, err)
		}
		batch.Quarantine = append(batch.Quarantine, quarantine("object", 0, 0, oe.Error(), nil))
		state.Quarantined++
	} else {
		dec := f.NewDecoder(dr, prov)
		normalize := f.NewNormalizer()
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
				if cerr := commit(false); cerr != nil {
					return s, cerr
				}
				return s, fmt.Errorf("read %s at record %d: %w", obj.Key, pos, err)
			}
			if pos < state.Position {
				pos++ // committed (or quarantined) by an earlier run
				continue
			}
			rec := interflow.New(f.Schema)
			rec.Stamp(prov, pos, f.Class, f.Category)
			if err := normalize(raw, rec); err != nil {
				var re *format.RecordError
				reason := err.Error()
				if errors.As(err, &re) {
					reason = re.Reason
				}
				batch.Quarantine = append(batch.Quarantine, quarantine("record", pos, dec.Offset(), reason, raw))
				state.Quarantined++
			} else if opt.Keep != nil && !opt.Keep(rec) {
				s.Dropped++
			} else {
				batch.Records = append(batch.Records, rec)
				state.Records++
				batchBytes += int64(len(raw))
			}
			pos++
			state.Position = pos
			if len(batch.Records) >= opt.BatchSize || batchBytes >= opt.BatchBytes {
				if err := commit(false); err != nil {
					return s, err
				}
			}
		}
		s.Decompressed = decompressed()
	}
	if pos > state.Position {
		state.Position = pos
	}
	if err := commit(true); err != nil {
		return s, err
	}
	s.Objects = 1
	s.Bytes = counted.n
	if !obj.LastModified.IsZero() {
		t := obj.LastModified
		s.Newest = &t
	}
	return s, nil
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
