package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/source/notify"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
)

// Event-driven collection: a connector with a queue has receivers on
// every node that runs it. Each receives up to ten messages, reads the
// objects they announce into the lake through collect.RunObjects (the
// polling run's checkpoints, leases and commits), and deletes a message
// only after the commit that holds its objects' records. A crash between
// commit and delete leaves the message to come back: its objects'
// checkpoints say done, and it is deleted without collecting again.

// queueState is one connector's queue on this node: the claims its
// receivers share with its polling run, and what they did.
type queueState struct {
	claims *collect.Claims

	received, deleted, failed, deferred, collected atomic.Int64
	mu                                             sync.Mutex
	ignored                                        map[string]int64 // by reason
	lastError                                      string
	lastErrorAt                                    time.Time
	oldest                                         time.Time // SentTimestamp of the oldest message in flight
	inFlight                                       map[string]time.Time
	latencies                                      []float64 // seconds from event to searchable, the last 1,000
	attrs                                          *s3src.QueueAttributes
	receivers                                      int
}

// queues are the connectors' queue states on this node.
type queues struct {
	mu sync.Mutex
	m  map[string]*queueState
}

func (q *queues) of(id string) *queueState {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[string]*queueState{}
	}
	s, ok := q.m[id]
	if !ok {
		s = &queueState{claims: collect.NewClaims(), ignored: map[string]int64{}, inFlight: map[string]time.Time{}}
		q.m[id] = s
	}
	return s
}

func (s *queueState) ignore(reason string, n int) {
	s.mu.Lock()
	s.ignored[reason] += int64(n)
	s.mu.Unlock()
}

func (s *queueState) setError(err error) {
	s.mu.Lock()
	s.lastError, s.lastErrorAt = err.Error(), time.Now().UTC()
	s.mu.Unlock()
}

// receive runs one receiver of a connector's queue until ctx ends. It
// connects once (again after a failure), not per message.
func (a *App) receive(ctx context.Context, c *connector.Connector, n int) {
	st := a.queues.of(c.ID)
	backoff := time.Second
	var conn *queueConn
	for ctx.Err() == nil {
		var err error
		if conn == nil {
			conn, err = a.connectQueue(ctx, c.ID)
		}
		if err == nil {
			err = a.receiveOnce(ctx, conn, st)
		}
		if err == nil {
			backoff = time.Second
			continue
		}
		if ctx.Err() != nil {
			return
		}
		conn = nil
		st.setError(err)
		a.log.Warn("queue receiver failed; retrying", "connector", c.Name, "receiver", n, "retry_in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)/4+1))):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// queueConn is a receiver's connection: the bucket and its queue.
type queueConn struct {
	c *connector.Connector
	b collect.Bucket
	q *s3src.Queue
}

func (a *App) connectQueue(ctx context.Context, id string) (*queueConn, error) {
	b, full, err := a.bucketFor(ctx, id)
	if err != nil {
		return nil, err
	}
	return queueOf(b, full)
}

// queueOf is the queue of a connector whose bucket is connected, over the
// bucket's credentials and transport.
func queueOf(b collect.Bucket, full *connector.Connector) (*queueConn, error) {
	s3b, ok := b.(*s3src.Bucket)
	if !ok {
		return nil, fmt.Errorf("connector %s: a queue needs an S3 bucket", full.Name)
	}
	q := s3b.Queue(s3src.QueueConfig{URL: full.QueueURL, Region: full.QueueRegion, Endpoint: full.QueueEndpoint})
	return &queueConn{c: full, b: b, q: q}, nil
}

// receiveOnce receives one batch of messages and settles each.
func (a *App) receiveOnce(ctx context.Context, conn *queueConn, st *queueState) error {
	c, q := conn.c, conn.q
	vis := c.QueueVisibility.D()
	msgs, err := q.Receive(ctx, 10, 20*time.Second, vis)
	if err != nil {
		return err
	}
	st.mu.Lock()
	st.lastError, st.lastErrorAt = "", time.Time{} // the queue answers again
	st.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	st.received.Add(int64(len(msgs)))
	batch := a.readMessages(c, msgs)
	stopHeartbeat := a.keepHidden(ctx, q, msgs, vis, st)
	outcomes, runErr := a.collectNotified(ctx, c, conn.b, batch.keys(), st)
	stopHeartbeat()
	if runErr != nil {
		st.setError(runErr)
		a.log.Warn("collecting notified objects failed; their messages come back", "connector", c.Name, "err", runErr)
	}
	// Settling outlives a shutdown: a message whose records are
	// committed is deleted now rather than collected again later, and
	// one cut short by a shutdown or an edit is visible again at once
	// for the receivers that follow.
	runFailed := runErr != nil
	if ctx.Err() != nil && runErr != nil {
		runFailed = false
	}
	return a.settle(context.WithoutCancel(ctx), c, q, batch, outcomes, runFailed, ctx.Err() != nil, st)
}

// message is one received message and what it announced.
type message struct {
	m       s3src.ReceivedMessage
	keys    []string
	events  map[string]time.Time // key -> event time
	ignored string               // a reason when it announces nothing to collect
}

type messages []message

func (ms messages) keys() []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.keys...)
	}
	return out
}

// readMessages parses each body; objects of another bucket are ignored.
func (a *App) readMessages(c *connector.Connector, msgs []s3src.ReceivedMessage) messages {
	out := make(messages, len(msgs))
	for i, m := range msgs {
		p := notify.Parse([]byte(m.Body))
		mm := message{m: m, events: map[string]time.Time{}}
		if n := len(p.Problems); n > 0 {
			// One line per message, whatever it holds: a message is the
			// sender's to fill, the log is the operator's.
			a.log.Warn("queue message partly unreadable", "connector", c.Name, "message", m.ID, "problems", n, "first", p.Problems[:min(n, 3)])
		}
		others := 0
		for _, o := range p.Objects {
			if o.Bucket != c.Bucket {
				others++
				continue
			}
			mm.keys = append(mm.keys, o.Key)
			mm.events[o.Key] = o.EventTime
		}
		if others > 0 {
			a.log.Warn("queue message names objects of another bucket; they are not this connector's", "connector", c.Name, "message", m.ID, "objects", others)
		}
		switch {
		case p.Ignored == notify.ReasonUnparseable:
			mm.ignored = p.Ignored
			a.log.Warn("queue message is no notification Trawl reads", "connector", c.Name, "message", m.ID, "detail", p.Detail)
		case p.Ignored != "":
			mm.ignored = p.Ignored
			a.log.Info("queue message announces nothing to collect", "connector", c.Name, "message", m.ID, "reason", p.Ignored, "detail", p.Detail)
		case len(mm.keys) == 0:
			mm.ignored = "other-bucket"
		}
		out[i] = mm
	}
	return out
}

// keepHidden extends the messages' visibility at a third of it while
// their objects are collected, so a long read never hands them to another
// receiver. It returns the function that stops it.
func (a *App) keepHidden(ctx context.Context, q *s3src.Queue, msgs []s3src.ReceivedMessage, vis time.Duration, st *queueState) func() {
	st.mu.Lock()
	for _, m := range msgs {
		st.inFlight[m.ID] = m.Sent
	}
	st.mu.Unlock()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(vis/3, 200*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := q.Hide(ctx, msgs, vis); err != nil && ctx.Err() == nil {
					a.log.Warn("extending the visibility of messages in progress failed", "queue", q.URL(), "err", err)
				}
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		st.mu.Lock()
		for _, m := range msgs {
			delete(st.inFlight, m.ID)
		}
		st.mu.Unlock()
	}
}

// collectNotified collects the announced keys once the lake is ready and
// the connector's filters compile.
func (a *App) collectNotified(ctx context.Context, c *connector.Connector, b collect.Bucket, keys []string, st *queueState) (map[string]collect.Notified, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if err := a.lake.Ready(ctx); err != nil {
		return nil, fmt.Errorf("not ready to store records: %w", err)
	}
	opt := a.mergeCollectDefaults(collect.Options{Logger: a.log, Claims: st.claims})
	if err := a.prepareRun(ctx, c, &opt); err != nil {
		return nil, err
	}
	stats, out, err := collect.RunObjects(ctx, c, b, a.lake, opt, keys)
	a.stored.objects.Add(stats.Objects)
	a.stored.records.Add(stats.Records)
	return out, err
}

// settle deletes the messages whose objects are all collected (or that
// announce nothing, unless the connector keeps those for the redrive
// policy), and hides the others for a backoff that grows with each
// delivery: never a tight loop.
func (a *App) settle(ctx context.Context, c *connector.Connector, q *s3src.Queue, batch messages, out map[string]collect.Notified, runFailed, interrupted bool, st *queueState) error {
	var del []s3src.ReceivedMessage
	later := map[time.Duration][]s3src.ReceivedMessage{}
	now := time.Now()
	for _, m := range batch {
		verdict, reason := a.verdict(c, m, out, runFailed)
		switch verdict {
		case "delete":
			del = append(del, m.m)
			if reason != "" {
				st.ignore(reason, 1)
			} else {
				st.collected.Add(1)
				st.latency(now, m.events)
			}
		case "ignore-keep":
			st.ignore(reason, 1)
			// Back after a visibility timeout, doubled per delivery:
			// the redrive policy moves it once it has come back enough.
			d := retryAfter(m.m.ReceiveCount, c.QueueVisibility.D(), 12*time.Hour)
			later[d] = append(later[d], m.m)
		case "deferred":
			st.deferred.Add(1)
			d := 5*time.Second + time.Duration(rand.Int64N(int64(5*time.Second)))
			later[d.Round(time.Second)] = append(later[d.Round(time.Second)], m.m)
		default:
			if interrupted {
				later[0] = append(later[0], m.m)
				continue
			}
			st.failed.Add(1)
			d := retryAfter(m.m.ReceiveCount, 15*time.Second, 15*time.Minute)
			later[d] = append(later[d], m.m)
		}
	}
	var firstErr error
	if len(del) > 0 {
		failed, err := q.Delete(ctx, del)
		st.deleted.Add(int64(len(del) - len(failed)))
		if err != nil {
			firstErr = err
		}
		for id, why := range failed {
			a.log.Warn("a message was not deleted; it comes back and is deleted then (its objects are collected)", "connector", c.Name, "message", id, "reason", why)
		}
	}
	for d, ms := range later {
		if _, err := q.Hide(ctx, ms, d); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// verdict decides one message: delete (its objects are collected, or it
// announces nothing and the connector deletes such messages), keep it
// for the redrive policy, defer it (another run holds an object), or
// retry it (a failure).
func (a *App) verdict(c *connector.Connector, m message, out map[string]collect.Notified, runFailed bool) (string, string) {
	ignoredVerdict := "delete"
	if c.QueueIgnored == connector.QueueIgnoredKeep {
		ignoredVerdict = "ignore-keep"
	}
	if m.ignored != "" {
		return ignoredVerdict, m.ignored
	}
	if runFailed {
		return "failed", ""
	}
	outside, deferred := 0, false
	for _, k := range m.keys {
		switch out[k].Outcome {
		case collect.OutcomeCollected:
		case collect.OutcomeOutside, collect.OutcomeGone:
			outside++
		case collect.OutcomeDeferred:
			deferred = true
		default:
			return "failed", ""
		}
	}
	switch {
	case deferred:
		return "deferred", ""
	case outside == len(m.keys):
		return ignoredVerdict, string(out[m.keys[0]].Outcome)
	case outside > 0 && ignoredVerdict != "delete":
		return ignoredVerdict, string(collect.OutcomeOutside)
	}
	return "delete", ""
}

// retryAfter is a message's backoff: base doubled per earlier delivery,
// capped.
func retryAfter(receives int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < receives && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// latency records, per collected object, the seconds from its event to
// its records being searchable (committed).
func (s *queueState) latency(now time.Time, events map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range events {
		if t.IsZero() {
			continue
		}
		s.latencies = append(s.latencies, now.Sub(t).Seconds())
	}
	if over := len(s.latencies) - 1000; over > 0 {
		s.latencies = append(s.latencies[:0], s.latencies[over:]...)
	}
}

// QueueStatus is what a connector's queue receivers did on this node.
func (a *App) queueStatus(ctx context.Context, c *connector.Connector) *apiv1.QueueStatus {
	if c.QueueURL == "" {
		return nil
	}
	st := a.queues.of(c.ID)
	out := &apiv1.QueueStatus{Received: st.received.Load(), Deleted: st.deleted.Load(), Collected: st.collected.Load(),
		Failed: st.failed.Load(), Deferred: st.deferred.Load(), Ignored: map[string]int64{}}
	st.mu.Lock()
	for k, v := range st.ignored {
		out.Ignored[k] = v
	}
	out.Receivers = st.receivers
	out.LastError = st.lastError
	if !st.lastErrorAt.IsZero() {
		t := st.lastErrorAt
		out.LastErrorAt = &t
	}
	for _, sent := range st.inFlight {
		if !sent.IsZero() && (out.OldestInFlight == nil || sent.Before(*out.OldestInFlight)) {
			t := sent
			out.OldestInFlight = &t
		}
	}
	if n := len(st.latencies); n > 0 {
		l := append([]float64(nil), st.latencies...)
		sort.Float64s(l)
		out.LatencyP50 = l[n/2]
		out.LatencyP95 = l[min(n-1, n*95/100)]
	}
	attrs := st.attrs
	st.mu.Unlock()
	if attrs != nil {
		out.Visible, out.InFlight, out.Delayed = attrs.Visible, attrs.InFlight, attrs.Delayed
	}
	return out
}

// watchQueue reads the queue's counts every interval for status and
// /metrics, until ctx ends.
func (a *App) watchQueue(ctx context.Context, c *connector.Connector, every time.Duration) {
	st := a.queues.of(c.ID)
	var conn *queueConn
	for {
		var err error
		if conn == nil {
			conn, err = a.connectQueue(ctx, c.ID)
		}
		if err == nil {
			if attrs, err := conn.q.Attributes(ctx); err == nil {
				st.mu.Lock()
				st.attrs = &attrs
				st.mu.Unlock()
			} else if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				st.setError(err)
				conn = nil
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
