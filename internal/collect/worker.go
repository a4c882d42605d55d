package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/source"
)

// task is one object for a worker: to collect, or to checkpoint as skipped.
type task struct {
	obj  source.Object
	prev ingest.ObjectState
	skip bool
}

// worker decodes objects and commits its own batches: there is no single
// writer, so decoding, encoding segments and writing them run on every
// core. A worker's batch holds the rows of several objects (many small
// objects share a commit) in columns; it commits when it reaches the
// batch limits, when it has waited a moment, and at the end.
type worker struct {
	c       *connector.Connector
	bucket  Bucket
	f       Format
	st      Store
	opt     Options
	log     *slog.Logger
	rows    *interflow.Batch
	pending []*ingest.Batch
	stats   Stats // counts of the pending batches, reported once committed
	opened  time.Time
	rec     *interflow.Record
	// det evaluates the detection rules at ingest (nil: Options.Detect
	// unset); hit is its callback for the record being stored.
	det Detection
	hit func(rule int)
	cur *objectRun
	// A worker decodes into one batch while the previous one is encoded
	// and committed (inflight): decoding and encoding overlap, also within
	// one large object. spare is the batch the commit hands back.
	spare    *interflow.Batch
	inflight chan error
	// done is called with each object committed as finished (ok) or
	// failed; report with the counts of each commit.
	done   func(key string, lm time.Time, ok bool)
	report func(Stats)
	// leaseOf is the partition lease an object is collected under (nil
	// without leases).
	leaseOf func(key string) *ingest.Lease
}

func (w *worker) lease(key string) *ingest.Lease {
	if w.leaseOf == nil {
		return nil
	}
	return w.leaseOf(key)
}

func newWorker(c *connector.Connector, b Bucket, f Format, st Store, opt Options, log *slog.Logger) *worker {
	w := &worker{c: c, bucket: b, f: f, st: st, opt: opt, log: log, rows: interflow.NewBatchSize(f.Schema, min(opt.BatchSize, 65536)), rec: interflow.New(f.Schema)}
	if opt.Detect != nil {
		w.det = opt.Detect()
		// One callback for the worker's life, not a closure per record.
		w.hit = func(rule int) { w.cur.hit(rule) }
	}
	return w
}

// newBatch is an object's part of the worker's next commit.
func (w *worker) newBatch(key string) *ingest.Batch {
	b := &ingest.Batch{ConnectorID: w.c.ID, Tenant: w.c.Tenant, Schema: w.f.Schema, Rows: w.rows, Lease: w.lease(key)}
	if w.det != nil {
		b.Rules = w.det.Rules()
	}
	return b
}

// run collects tasks until the channel closes or ctx ends, then commits
// what it holds. It returns the first commit failure (a store failure:
// the run stops).
func (w *worker) run(ctx context.Context, tasks <-chan task) error {
	for t := range tasks {
		if ctx.Err() != nil {
			break
		}
		if t.skip {
			b := w.newBatch(t.obj.Key)
			b.Object = ingest.ObjectState{Key: t.obj.Key, Version: versionOf(t.obj), Done: true, Size: t.obj.Size, LastModified: t.obj.LastModified}
			w.add(b, Stats{Skipped: 1})
		} else if err := w.collectObject(ctx, t.obj, t.prev); err != nil {
			if ctx.Err() != nil {
				break
			}
			var fe *fatalError
			if errors.As(err, &fe) {
				return fe.err
			}
			w.log.Warn("object failed; it will be retried at the next run", "key", t.obj.Key, "err", err)
			w.report(Stats{Errors: 1, FirstError: err})
			w.done(t.obj.Key, t.obj.LastModified, false)
		}
		if w.full() || len(w.pending) > 0 && time.Since(w.opened) > batchLinger {
			if err := w.flush(ctx); err != nil {
				w.wait()
				return err
			}
		}
	}
	if ctx.Err() != nil {
		w.wait()
		return ctx.Err()
	}
	if err := w.flush(ctx); err != nil {
		w.wait()
		return err
	}
	return w.wait()
}

// fatalError is a commit failure inside an object: it stops the run.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

func (w *worker) full() bool {
	return w.rows.Len() >= w.opt.BatchSize || w.rows.Bytes() >= w.opt.BatchBytes
}

// add holds a batch (an object's part) for the next commit.
func (w *worker) add(b *ingest.Batch, s Stats) {
	if len(w.pending) == 0 {
		w.opened = time.Now()
	}
	w.pending = append(w.pending, b)
	w.stats.add(s)
}

// flush hands the pending batches to a commit that runs while the worker
// decodes on into its other batch. It first waits for the previous commit
// (so at most two batches per worker are held: backpressure, not drops)
// and returns its error.
func (w *worker) flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	pending, stats, rows := w.pending, w.stats, w.rows
	w.inflight = make(chan error, 1)
	go func(done chan<- error) { done <- w.commit(ctx, pending, stats) }(w.inflight)
	if w.spare == nil {
		w.spare = interflow.NewBatchSize(w.f.Schema, min(w.opt.BatchSize, 65536))
	}
	w.rows, w.spare = w.spare, rows
	w.rows.Reset()
	w.pending, w.stats = nil, Stats{}
	return nil
}

// wait waits for the commit in flight, if any.
func (w *worker) wait() error {
	if w.inflight == nil {
		return nil
	}
	err := <-w.inflight
	w.inflight = nil
	return err
}

// commit commits batches, retrying at a finer grain if the store refuses
// their content, then reports them.
func (w *worker) commit(ctx context.Context, pending []*ingest.Batch, s Stats) error {
	moved, err := commitSalvaging(ctx, w.st, pending, w.log)
	if err != nil {
		return err
	}
	s.Records -= int64(moved)
	s.Quarantined += int64(moved)
	w.report(s)
	for _, b := range pending {
		if b.Object.Done {
			w.done(b.Object.Key, b.Object.LastModified, true)
		}
	}
	return nil
}

// collectObject streams one object from its checkpoint position to the
// end into the worker's batch. It returns an error when the object must be
// retried at the next run (a read failure); what was committed stays.
func (w *worker) collectObject(ctx context.Context, obj source.Object, prev ingest.ObjectState) error {
	c := w.c
	prov := interflow.Provenance{Tenant: c.Tenant, Connector: c.Name, Bucket: w.bucket.Name(), Key: obj.Key, ETag: obj.ETag, Size: obj.Size, LastModified: obj.LastModified}
	o := &objectRun{w: w, obj: obj, prov: prov, ids: interflow.NewIDs(prov),
		state: ingest.ObjectState{Key: obj.Key, Version: prov.ObjectVersion(), Position: prev.Position, Records: prev.Records,
			Quarantined: prev.Quarantined, Size: obj.Size, LastModified: obj.LastModified}}
	if prev.Version != "" && prev.Version != o.state.Version && prev.Position > 0 {
		w.log.Warn("object changed after it was partly collected; continuing from the committed position", "key", obj.Key, "was", prev.Version, "now", o.state.Version)
	}
	o.begin()
	rc, err := w.bucket.Open(ctx, obj)
	if err != nil {
		o.abandon()
		return fmt.Errorf("open %s: %w", obj.Key, err)
	}
	defer rc.Close()
	counted := &format.CountingReader{R: rc}
	dr, decompressed, err := format.Open(counted, w.opt.Limits)
	if err != nil {
		var oe *format.ObjectError
		if !errors.As(err, &oe) {
			o.abandon()
			return fmt.Errorf("read %s: %w", obj.Key, err)
		}
		o.quarantine("object", 0, 0, oe.Error(), nil)
	} else {
		in, sum := o.hashing(dr)
		if err := o.decode(ctx, o.timed(in)); err != nil {
			return err
		}
		o.state.SHA256 = sum()
		o.stats.Decompressed = decompressed()
	}
	o.stats.Objects = 1
	o.stats.Bytes = counted.N
	if !obj.LastModified.IsZero() {
		t := obj.LastModified
		o.stats.Newest = &t
	}
	o.finish(true)
	return nil
}

// hashing hashes a CloudTrail object's uncompressed bytes as they are
// decoded (no second read), for the digest audit: sum returns the hex
// SHA-256 once the object has been read to its end (the rest is drained,
// within the decompression limits), or "" when it could not be.
func (o *objectRun) hashing(dr io.Reader) (io.Reader, func() string) {
	if o.w.c.SubType != connector.CloudTrail {
		return dr, func() string { return "" }
	}
	h := sha256.New()
	in := io.TeeReader(dr, h)
	return in, func() string {
		if _, err := io.Copy(io.Discard, in); err != nil {
			return ""
		}
		return hex.EncodeToString(h.Sum(nil))
	}
}

// objectRun is one object being collected into the worker's batch.
type objectRun struct {
	w     *worker
	obj   source.Object
	prov  interflow.Provenance
	ids   interflow.IDs
	state ingest.ObjectState
	b     *ingest.Batch // this object's part of the current batch
	stats Stats
	reads *timedReader // with Timings: time spent reading
}

func (o *objectRun) begin() {
	o.b = o.w.newBatch(o.obj.Key)
}

// abandon drops an object that could not be opened: nothing of it is held.
func (o *objectRun) abandon() {}

func (o *objectRun) quarantine(scope string, pos, offset int64, reason string, raw []byte) {
	o.b.Quarantine = append(o.b.Quarantine, ingest.QuarantineItem{Tenant: o.w.c.Tenant, Connector: o.w.c.Name, Bucket: o.w.bucket.Name(),
		Key: o.obj.Key, Version: o.state.Version, Position: pos, Offset: offset, Scope: scope, Reason: reason,
		Raw: bytes.Clone(format.Cap(raw, 64<<10))})
	o.state.Quarantined++
	o.stats.Quarantined++
}

// finish hands the object's part to the worker with its checkpoint.
func (o *objectRun) finish(done bool) {
	o.state.Done = done
	o.b.Object = o.state
	o.w.add(o.b, o.stats)
	o.stats = Stats{}
}

// split commits the batch mid-object (it is full), and continues the
// object in the next batch.
func (o *objectRun) split(ctx context.Context) error {
	o.finish(false)
	if err := o.w.flush(ctx); err != nil {
		return &fatalError{err}
	}
	o.begin()
	return nil
}

// timedReader measures the time spent reading (source and gunzip).
type timedReader struct {
	r  io.Reader
	ns int64
}

func (t *timedReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := t.r.Read(p)
	t.ns += int64(time.Since(start))
	return n, err
}

func (o *objectRun) timed(r io.Reader) io.Reader {
	if o.w.opt.Timings == nil {
		return r
	}
	o.reads = &timedReader{r: r}
	return o.reads
}

func (o *objectRun) decode(ctx context.Context, dr io.Reader) error {
	w := o.w
	dec := w.f.NewDecoder(dr, o.obj)
	if c, ok := dec.(io.Closer); ok {
		defer c.Close()
	}
	var pos int64
	tm := w.opt.Timings
	var t0, t1 time.Time
	var readBefore int64
	if tm != nil {
		defer func() { tm.Add(ingest.StageRead, time.Duration(o.reads.ns)) }()
	}
	for {
		if tm != nil {
			t0, readBefore = time.Now(), o.reads.ns
		}
		raw, err := dec.Next()
		if tm != nil {
			t1 = time.Now()
			tm.Add(ingest.StageDecode, t1.Sub(t0)-time.Duration(o.reads.ns-readBefore))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if err := o.readFailed(err, pos); err != nil {
				return err
			}
			break
		}
		if pos < o.state.Position {
			pos++ // committed (or quarantined) by an earlier run
			continue
		}
		// A shutdown stops an object between records, not at its end: a
		// tenant's rules may make each record slow (what was not committed
		// is read again from the checkpoint).
		if pos&255 == 0 && ctx.Err() != nil {
			o.finish(false)
			return ctx.Err()
		}
		o.record(dec, raw, pos)
		if tm != nil {
			tm.Since(ingest.StageNormalize, t1)
		}
		pos++
		o.state.Position = pos
		if w.full() {
			if err := o.split(ctx); err != nil {
				return err
			}
		}
	}
	if pos > o.state.Position {
		o.state.Position = pos
	}
	return nil
}

// readFailed handles an error from the decoder, which ends the object's
// reading: a damaged object has its rest quarantined (nil); a read failure
// is returned, what the object holds commits with the worker's batch, and
// the object resumes from there at the next run.
func (o *objectRun) readFailed(err error, pos int64) error {
	var oe *format.ObjectError
	if errors.As(err, &oe) {
		o.w.log.Warn("quarantining the rest of an object", "key", o.obj.Key, "record", pos, "reason", oe.Error())
		if pos >= o.state.Position {
			o.quarantine("object", pos, oe.Offset, oe.Error(), nil)
		}
		return nil
	}
	o.finish(false)
	return fmt.Errorf("read %s at record %d: %w", o.obj.Key, pos, err)
}

// record normalizes the object's record at pos into the worker's rows, or
// quarantines it with the reason, or drops it by the connector's filters.
func (o *objectRun) record(dec Decoder, raw []byte, pos int64) {
	w, rec := o.w, o.w.rec
	rec.Reset()
	rec.StampID(o.ids.ID(pos), o.prov, pos, w.f.Class, w.f.Category)
	if bad := invalidUTF8(raw); bad >= 0 {
		// AWS writes UTF-8; such a record is corrupt. Its bytes are
		// kept exactly in the quarantine.
		o.quarantine("record", pos, dec.Offset(),
			fmt.Sprintf("the record is not valid UTF-8 (byte %d of %d): AWS writes UTF-8, so the object is damaged; its bytes are kept here exactly", bad, len(raw)), raw)
	} else if err := dec.Normalize(raw, rec); err != nil {
		var re *format.RecordError
		reason := err.Error()
		if errors.As(err, &re) {
			reason = re.Reason
		}
		o.quarantine("record", pos, dec.Offset(), reason, raw)
	} else if w.opt.Keep != nil && !w.opt.Keep(rec) {
		o.stats.Dropped++
	} else {
		o.b.Sel = append(o.b.Sel, int32(w.rows.Len()))
		w.rows.Append(rec)
		o.state.Records++
		o.stats.Records++
		if w.det != nil {
			w.cur = o
			w.det.Match(rec, w.hit)
		}
	}
}

// hit keeps what a detection rule matched in the record being stored.
func (o *objectRun) hit(rule int) {
	rec := o.w.rec
	id, _ := rec.Str(interflow.FID)
	ts, _ := rec.Time(interflow.FTimestamp)
	// The record is reused for the next one: its id is copied.
	o.b.Hits = append(o.b.Hits, ingest.Hit{Rule: rule, ID: strings.Clone(id), Time: ts})
	o.stats.Matched++
}

// batchLinger is how long a worker holds small objects for a shared
// commit before committing what it has.
const batchLinger = time.Second
