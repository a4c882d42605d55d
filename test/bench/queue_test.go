package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trawlhq/trawl/internal/gen"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
	"github.com/trawlhq/trawl/internal/testutil/sqsserver"
)

// TestPerfQueueLatency: objects uploaded to versitygw and announced
// through fauxqs at a fixed rate (default 100 a second for a minute), read
// by `trawl serve` from its queue; the latency of each object is from the
// end of its upload to the moment a search through the server's API finds
// all its records, seen from outside by polling. It prints the
// distribution; it asserts none.
func TestPerfQueueLatency(t *testing.T) {
	perfOnly(t)
	rate, secs, perObj := envIntOr("TRAWL_PERF_QUEUE_RATE", 100), envIntOr("TRAWL_PERF_QUEUE_SECONDS", 60), 50
	srv := s3server.Start(t)
	q := sqsserver.Start(t)
	queueURL := q.CreateQueue(t, "trawl-perf", map[string]string{"VisibilityTimeout": "300"})
	bin := buildTrawl(t)
	data := t.TempDir()
	base, token, _, stop := serveBinary(t, bin, data)
	defer stop()
	srv.Fill(t, "perfq", nil)
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	if out, err := trawlCmd(bin, data, "connector", "add", "--name", "perfq", "--tenant", "perf", "--subtype", "cloudtrail", "--bucket", "perfq",
		"--prefix", "AWSLogs", "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf, "--endpoint", srv.Endpoint, "--path-style",
		"--start", "-48h", "--queue-url", queueURL, "--queue-endpoint", q.Endpoint).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	time.Sleep(2 * time.Second) // the first poll finds the bucket empty
	spec := gen.CloudTrailSpec{Seed: 5, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-6 * time.Hour), Span: 5 * time.Hour, Objects: rate * secs, RecordsPerObj: perObj}
	objs := gen.CloudTrail(spec)
	for i := range objs {
		dir := objs[i].Key[:strings.LastIndexByte(objs[i].Key, '/')+1]
		objs[i].Key = fmt.Sprintf("%sw%04d_o%04d.json.gz", dir, i/rate, i)
	}
	up := newAnnouncer(t, srv, q, queueURL)
	uploaded := make([]time.Time, len(objs))
	searchable := make([]time.Time, len(objs))
	done := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(done)
		start := time.Now()
		for w := 0; w < secs; w++ {
			time.Sleep(time.Until(start.Add(time.Duration(w) * time.Second)))
			up.window(objs[w*rate:(w+1)*rate], uploaded[w*rate:(w+1)*rate])
		}
	}()
	// A window's records lie in a span of their own (an object's start
	// plus a second per record): the poll asks for that span only, so its
	// cost does not grow with the lake and delay what it measures.
	poll := &keyPoller{base: base, token: token, span: func(w int) (time.Time, time.Time) {
		at := func(i int) time.Time {
			return spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(spec.Objects)))
		}
		return at(w * rate).Add(-time.Minute), at((w + 1) * rate).Add(time.Duration(perObj)*time.Second + time.Minute)
	}}
	// Polled until every window is searchable, or two minutes after the
	// last upload (uploads may fall behind the clock on a busy machine).
	var uploadsEnded time.Time
	for next := 0; next < secs; time.Sleep(250 * time.Millisecond) {
		select {
		case <-done:
			if uploadsEnded.IsZero() {
				uploadsEnded = time.Now()
			}
		default:
		}
		if !uploadsEnded.IsZero() && time.Since(uploadsEnded) > 2*time.Minute {
			break
		}
		for w := next; w < secs; w++ {
			up.mu.Lock()
			started := !uploaded[w*rate].IsZero()
			up.mu.Unlock()
			if !started {
				break
			}
			poll.window(t, w, objs[w*rate:(w+1)*rate], searchable[w*rate:(w+1)*rate], perObj)
		}
		for next < secs && !searchable[(next+1)*rate-1].IsZero() && complete(searchable[next*rate:(next+1)*rate]) {
			next++
		}
	}
	<-done
	var lat []float64
	missing := 0
	for i := range objs {
		if searchable[i].IsZero() || uploaded[i].IsZero() {
			missing++
			continue
		}
		lat = append(lat, searchable[i].Sub(uploaded[i]).Seconds())
	}
	if missing > 0 {
		// Seen late or never: look again over all time, and say which.
		poll.span = func(int) (time.Time, time.Time) { return time.Now().Add(-30 * 24 * time.Hour), time.Now() }
		late := make([]time.Time, len(objs))
		for w := 0; w < secs; w++ {
			poll.window(t, w, objs[w*rate:(w+1)*rate], late[w*rate:(w+1)*rate], perObj)
		}
		for i := range objs {
			if searchable[i].IsZero() && late[i].IsZero() {
				t.Errorf("object %s (uploaded %v) is not searchable after the run", objs[i].Key, !uploaded[i].IsZero())
			} else if searchable[i].IsZero() {
				t.Logf("object %s was searchable only after the window's poll ended", objs[i].Key)
			}
		}
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	status, _ := trawlCmd(bin, data, "connector", "show", "perfq", "--tenant", "perf").Output()
	var st struct {
		Queue map[string]any `json:"queue"`
	}
	json.Unmarshal(status, &st)
	fmt.Printf("\nqueue latency, trawl serve: %d objects of %d records announced at %d/s for %d s (the uploads took %.0f s); upload end to searchable (outside, polled every 250 ms): p50 %.2f s, p95 %.2f s, max %.2f s; not searchable within 2 min of the last upload: %d\n",
		len(objs), perObj, rate, secs, uploadsEnded.Sub(began).Seconds(), pct(0.5), pct(0.95), pct(1), missing)
	fmt.Printf("the server's own figure (event to commit, last 1,000 objects): p50 %v s, p95 %v s\n", st.Queue["latency_p50_seconds"], st.Queue["latency_p95_seconds"])
}

func complete(ts []time.Time) bool {
	for _, t := range ts {
		if t.IsZero() {
			return false
		}
	}
	return true
}

func envIntOr(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func trawlCmd(bin, data string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), "TRAWL_DATA_DIR="+data)
	return c
}

// serveBinary starts `trawl serve` on a free loopback port and returns its
// address, its root token, its process (whose CPU time and memory a
// benchmark reads in /proc) and how to stop it; stop returns what the
// server wrote to stderr (its warnings).
func serveBinary(t *testing.T, bin, data string) (string, string, *os.Process, func() string) {
	c := trawlCmd(bin, data, "serve", "--addr", "127.0.0.1:0")
	var logs bytes.Buffer
	c.Stderr = &logs
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() string {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
		return logs.String() // written by exec's copier, which Wait ended
	}
	for i := 0; i < 300; i++ {
		b, err := os.ReadFile(filepath.Join(data, "server.json"))
		var si struct{ Addr string }
		if err == nil && json.Unmarshal(b, &si) == nil && si.Addr != "" {
			tok, _ := os.ReadFile(filepath.Join(data, "root.token"))
			return "http://" + si.Addr, strings.TrimSpace(string(tok)), c.Process, stop
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("trawl serve did not start:\n%s", stop())
	return "", "", nil, nil
}

// announcer uploads objects and sends their S3 events, a few at once.
type announcer struct {
	mu       sync.Mutex // guards the upload times written
	t        *testing.T
	b        *s3src.Bucket
	sqs      *sqs.Client
	queueURL string
}

func newAnnouncer(t *testing.T, srv *s3server.Server, q *sqsserver.Server, queueURL string) *announcer {
	b, err := s3src.New(context.Background(), s3src.Config{Bucket: "perfq", Endpoint: srv.Endpoint, PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return &announcer{t: t, b: b, sqs: q.Client(), queueURL: queueURL}
}

// window uploads a second's objects (eight at a time) and announces them
// in batches of ten as their uploads end.
func (a *announcer) window(objs []gen.Object, uploaded []time.Time) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < len(objs); i += 10 {
		part := objs[i:min(i+10, len(objs))]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx := context.Background()
			var entries []sqstypes.SendMessageBatchRequestEntry
			ends := make([]time.Time, len(part))
			for j, o := range part {
				if err := a.b.Put(ctx, o.Key, bytes.NewReader(o.Body), int64(len(o.Body))); err != nil {
					a.t.Errorf("upload %s: %v", o.Key, err)
					return
				}
				ends[j] = time.Now()
				entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(s3Event(o, ends[j]))})
			}
			if _, err := a.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(a.queueURL), Entries: entries}); err != nil {
				a.t.Errorf("announce: %v", err)
				return
			}
			a.mu.Lock()
			copy(uploaded[i:i+len(part)], ends)
			a.mu.Unlock()
		})
	}
	wg.Wait()
}

// one uploads an object and announces it alone, as S3 sends one event per
// object; it returns when the event is sent.
func (a *announcer) one(ctx context.Context, o gen.Object) error {
	if err := a.b.Put(ctx, o.Key, bytes.NewReader(o.Body), int64(len(o.Body))); err != nil {
		return fmt.Errorf("upload %s: %w", o.Key, err)
	}
	if _, err := a.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(a.queueURL), MessageBody: aws.String(s3Event(o, time.Now()))}); err != nil {
		return fmt.Errorf("announce %s: %w", o.Key, err)
	}
	return nil
}

// s3Event is the notification S3 sends for an object written at a time.
func s3Event(o gen.Object, at time.Time) string {
	body, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"eventVersion": "2.1", "eventSource": "aws:s3",
		"eventTime": at.UTC().Format(time.RFC3339Nano), "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": "perfq"}, "object": map[string]any{"key": url.QueryEscape(o.Key), "size": len(o.Body)}}}}})
	return string(body)
}

// keyPoller asks the server, through its API, how many records of each
// object of a window are searchable.
type keyPoller struct {
	base, token string
	span        func(w int) (time.Time, time.Time)
}

func (p *keyPoller) window(t *testing.T, w int, objs []gen.Object, searchable []time.Time, perObj int) {
	if complete(searchable) {
		return
	}
	from, to := p.span(w)
	v := url.Values{"field": {"origin.key"}, "n": {"1000"}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "tenant": {"perf"},
		"q": {fmt.Sprintf("origin.key:*w%04d_*", w)}}
	req, _ := http.NewRequest("GET", p.base+"/api/v1/top?"+v.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("top: %v", err)
		return
	}
	defer resp.Body.Close()
	now := time.Now()
	var out struct {
		Values []struct {
			Value string `json:"value"`
			Count int    `json:"count"`
		} `json:"values"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Errorf("top: %d %v", resp.StatusCode, err)
		return
	}
	counts := map[string]int{}
	for _, x := range out.Values {
		counts[x.Value] = x.Count
	}
	for i, o := range objs {
		if searchable[i].IsZero() && counts[o.Key] >= perObj {
			searchable[i] = now
		}
	}
}
