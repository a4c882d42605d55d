package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/faultproxy"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
	"github.com/trawlhq/trawl/internal/testutil/sqsserver"
)

// Event-driven collection, end to end: objects uploaded to versitygw with
// the AWS SDK, their notifications put into fauxqs (a real SQS server)
// in AWS's documented shapes, and `trawl serve` reading the queue.

// s3Event is S3's event notification of one created object; S3 URL-encodes
// the key with '+' for space.
func s3Event(bucket string, o gen.Object) string {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": time.Now().UTC().Format(time.RFC3339Nano),
		"eventName": "ObjectCreated:Put",
		"s3": map[string]any{"s3SchemaVersion": "1.0", "configurationId": "trawl",
			"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": map[string]any{"key": url.QueryEscape(o.Key), "size": len(o.Body), "sequencer": "0055AED6DCD90281E5"}},
	}}})
	return string(b)
}

// snsWrap is an SNS notification delivered to SQS (not raw).
func snsWrap(inner string) string {
	b, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn": "arn:aws:sns:us-east-1:123456789012:trawl", "Subject": "Amazon S3 Notification", "Message": inner,
		"Timestamp": time.Now().UTC().Format(time.RFC3339Nano), "SignatureVersion": "1", "Signature": "EXAMPLE",
		"SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
		"UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"})
	return string(b)
}

// cloudTrailSNS is CloudTrail's own notification of a delivered log file,
// through SNS: the key is not URL-encoded.
func cloudTrailSNS(bucket string, keys ...string) string {
	inner, _ := json.Marshal(map[string]any{"s3Bucket": bucket, "s3ObjectKey": keys})
	return snsWrap(string(inner))
}

// eventBridge is EventBridge's Object Created event (as Security Lake's
// subscriber queues receive it).
func eventBridge(bucket string, o gen.Object) string {
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
		"source": "aws.s3", "account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1",
		"resources": []string{"arn:aws:s3:::" + bucket},
		"detail": map[string]any{"version": "0", "bucket": map[string]any{"name": bucket},
			"object":     map[string]any{"key": o.Key, "size": len(o.Body), "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "00617F08299329D189"},
			"request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"}})
	return string(b)
}

const s3TestEvent = `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-07T10:00:00.000Z","Bucket":"notified","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}`

// queueCounts are SQS's approximate counts of a queue.
func queueCounts(t *testing.T, q *sqsserver.Server, queueURL string) (visible, inFlight int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := q.Client().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight
}

// queueStatus is `trawl connector show`'s queue object.
func queueStatus(t *testing.T, data, name string) map[string]any {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "show", name, "--tenant", "acme")), &st); err != nil {
		t.Fatal(err)
	}
	q, _ := st["queue"].(map[string]any)
	if q == nil {
		t.Fatalf("connector show has no queue status: %v", st)
	}
	return q
}

func num(m map[string]any, k string) int {
	f, _ := m[k].(float64)
	return int(f)
}

// renamed gives objects keys that S3 event notifications must encode:
// '+', space, '%', unicode.
func renamed(objs []gen.Object, names []string) []gen.Object {
	for i := range objs {
		if i < len(names) {
			dir := objs[i].Key[:strings.LastIndexByte(objs[i].Key, '/')+1]
			objs[i].Key = dir + names[i] + ".json.gz"
		}
	}
	return objs
}

func TestQueueEnvelopesAndKeys(t *testing.T) {
	srv := s3server.Start(t)
	q := sqsserver.Start(t)
	queueURL := q.CreateQueue(t, "trawl-notify", map[string]string{"VisibilityTimeout": "30"})
	data := t.TempDir()
	stop := startServe(t, data)
	defer stop()
	srv.Fill(t, "notified", nil)
	addConnector(t, srv, data, "events", "notified", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey,
		"--queue-url", queueURL, "--queue-endpoint", q.Endpoint, "--queue-visibility", "10s")
	// The first poll runs at once and finds an empty bucket; the next is an
	// hour away: from here on only the queue collects.
	time.Sleep(2 * time.Second)
	objs := renamed(gen.CloudTrail(gen.CloudTrailSpec{Seed: 7, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-time.Hour), Span: 30 * time.Minute, Objects: 8, RecordsPerObj: 25}),
		[]string{"a+b", "with space", "fifty%25", "100%", "caf\u00e9-\u65e5\u672c", "plain", "sns", "eventbridge"})
	outside := gen.CloudTrail(gen.CloudTrailSpec{Seed: 8, Accounts: []string{"999999999999"}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-time.Hour), Span: 30 * time.Minute, Objects: 1, RecordsPerObj: 25})
	srv.Fill(t, "notified", append(append([]gen.Object(nil), objs...), outside...))
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	for _, o := range objs[:5] {
		q.Send(t, queueURL, s3Event("notified", o))
	}
	q.Send(t, queueURL, cloudTrailSNS("notified", objs[5].Key))
	q.Send(t, queueURL, snsWrap(s3Event("notified", objs[6])))
	q.Send(t, queueURL, eventBridge("notified", objs[7]))
	q.Send(t, queueURL, s3Event("notified", objs[0])) // a duplicate delivery
	q.Send(t, queueURL, s3TestEvent)
	q.Send(t, queueURL, "this is not a notification")
	q.Send(t, queueURL, s3Event("notified", outside[0]))
	q.Send(t, queueURL, s3Event("another-bucket", objs[1]))
	sent := 13
	waitFor(t, 60*time.Second, "every message settled", func() bool {
		v, f := queueCounts(t, q, queueURL)
		return v == 0 && f == 0 && num(queueStatus(t, data, "events"), "deleted") == sent
	})
	if n := count(t, data, "--tenant", "acme"); n != want {
		t.Fatalf("searchable records %d, want exactly %d (the announced objects')", n, want)
	}
	st := queueStatus(t, data, "events")
	ign, _ := st["ignored"].(map[string]any)
	for reason, n := range map[string]int{"test-event": 1, "unparseable": 1, "outside": 1, "other-bucket": 1} {
		if num(ign, reason) != n {
			t.Errorf("ignored %s = %d, want %d (all: %v)", reason, num(ign, reason), n, ign)
		}
	}
	if num(st, "collected") != 9 || num(st, "received") != sent {
		t.Errorf("queue status %v: want 9 collected of %d received", st, sent)
	}
	// /metrics says the same, per connector and reason.
	sv := servedAt(t, data)
	req, _ := http.NewRequest("GET", sv.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+sv.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	l := `tenant="acme",connector="events",sub_type="cloudtrail"`
	for _, line := range []string{
		fmt.Sprintf("trawl_queue_messages_received_total{%s} %d", l, sent),
		fmt.Sprintf("trawl_queue_messages_deleted_total{%s} %d", l, sent),
		fmt.Sprintf(`trawl_queue_messages_ignored_total{%s,reason="test-event"} 1`, l),
		fmt.Sprintf(`trawl_queue_messages_ignored_total{%s,reason="outside"} 1`, l),
		fmt.Sprintf(`trawl_queue_latency_seconds{%s,quantile="0.95"}`, l),
	} {
		if !strings.Contains(string(metrics), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestQueueLongReadOutlastsVisibility: an object whose read takes several
// visibility timeouts is collected once and its message received and
// deleted once: the receiver keeps it hidden while it reads.
func TestQueueLongReadOutlastsVisibility(t *testing.T) {
	srv := s3server.Start(t)
	q := sqsserver.Start(t)
	queueURL := q.CreateQueue(t, "trawl-slow", map[string]string{"VisibilityTimeout": "2"})
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{Rate: 100 << 10}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	data := t.TempDir()
	stop := startServe(t, data)
	defer stop()
	srv.Fill(t, "slow", nil)
	addConnector(t, srv, data, "slow", "slow", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--endpoint", proxy.URL,
		"--queue-url", queueURL, "--queue-endpoint", q.Endpoint, "--queue-visibility", "2s", "--queue-receivers", "3")
	time.Sleep(2 * time.Second)
	// Its records' times step a second apart: they start early enough to
	// be all in the past.
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 9, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: 10 * time.Minute, Objects: 1, RecordsPerObj: 6000, PadBytes: 400})
	if len(objs[0].Body) < 600<<10 {
		t.Fatalf("object of %d bytes reads in under four seconds: the test proves nothing", len(objs[0].Body))
	}
	srv.Fill(t, "slow", objs)
	began := time.Now()
	q.Send(t, queueURL, s3Event("slow", objs[0]))
	waitFor(t, 90*time.Second, "the message deleted", func() bool { return num(queueStatus(t, data, "slow"), "deleted") == 1 })
	took := time.Since(began)
	st := queueStatus(t, data, "slow")
	t.Logf("read took %s (visibility 2s), status %v", took.Round(time.Millisecond), st)
	if took < 6*time.Second {
		t.Fatalf("the read took %s, under three visibility timeouts: the test proves nothing", took)
	}
	if num(st, "received") != 1 || num(st, "deleted") != 1 {
		t.Fatalf("received %d, deleted %d: want each once (the visibility was not kept)", num(st, "received"), num(st, "deleted"))
	}
	if n := count(t, data, "--tenant", "acme"); n != objs[0].Records {
		t.Fatalf("%d records, want %d; show: %s", n, objs[0].Records, mustTrawl(t, data, "connector", "show", "slow", "--tenant", "acme"))
	}
}

// TestQueueAddedToPollingConnector: a queue added to a connector that had
// polled half of the objects: the other half is collected from the
// notifications, the first half's notifications collect nothing twice.
func TestQueueAddedToPollingConnector(t *testing.T) {
	srv := s3server.Start(t)
	q := sqsserver.Start(t)
	queueURL := q.CreateQueue(t, "trawl-switch", map[string]string{"VisibilityTimeout": "30"})
	data := t.TempDir()
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 11, Accounts: []string{acct}, Regions: []string{"us-east-1", "eu-west-1"},
		Start: time.Now().UTC().Add(-2 * time.Hour), Span: time.Hour, Objects: 12, RecordsPerObj: 40})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	srv.Fill(t, "switch", objs[:6])
	addConnector(t, srv, data, "switch", "switch", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	mustTrawl(t, data, "collect", "--once")
	half := count(t, data, "--tenant", "acme")
	srv.Fill(t, "switch", objs[6:])
	stop := startServe(t, data)
	defer stop()
	mustTrawl(t, data, "connector", "edit", "switch", "--tenant", "acme", "--queue-url", queueURL, "--queue-endpoint", q.Endpoint)
	var shown struct {
		Connector struct {
			Interval string `json:"interval"`
		} `json:"connector"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "show", "switch", "--tenant", "acme")), &shown); err != nil || shown.Connector.Interval != "1h0m0s" {
		t.Fatalf("after adding the queue the default interval is %q (%v), want 1h0m0s: polling is the safety net", shown.Connector.Interval, err)
	}
	for _, o := range objs {
		q.Send(t, queueURL, s3Event("switch", o))
	}
	waitFor(t, 60*time.Second, "every message deleted", func() bool {
		v, f := queueCounts(t, q, queueURL)
		return v == 0 && f == 0 && num(queueStatus(t, data, "switch"), "deleted") == len(objs)
	})
	if n := count(t, data, "--tenant", "acme"); n != want || half >= want {
		t.Fatalf("records %d (after the first poll %d), want exactly %d", n, half, want)
	}
}

// TestQueueIgnoredKeptForRedrive: with --queue-ignored keep, a message
// announcing nothing is not deleted: it comes back later each time, and
// the queue's redrive policy moves it to the dead-letter queue.
func TestQueueIgnoredKeptForRedrive(t *testing.T) {
	srv := s3server.Start(t)
	q := sqsserver.Start(t)
	dlq := q.CreateQueue(t, "trawl-dlq", nil)
	queueURL := q.CreateQueue(t, "trawl-keep", map[string]string{"VisibilityTimeout": "1", "RedrivePolicy": sqsserver.RedrivePolicy(q.QueueARN(t, dlq), 2)})
	data := t.TempDir()
	stop := startServe(t, data)
	defer stop()
	srv.Fill(t, "keep", nil)
	addConnector(t, srv, data, "keep", "keep", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey,
		"--queue-url", queueURL, "--queue-endpoint", q.Endpoint, "--queue-visibility", "1s", "--queue-ignored", "keep")
	q.Send(t, queueURL, "garbage that is no notification")
	waitFor(t, 30*time.Second, "the message in the dead-letter queue", func() bool {
		v, f := queueCounts(t, q, dlq)
		return v+f == 1
	})
	st := queueStatus(t, data, "keep")
	ign, _ := st["ignored"].(map[string]any)
	if num(st, "deleted") != 0 || num(ign, "unparseable") < 1 || num(st, "received") > 3 {
		t.Fatalf("status %v: want nothing deleted, the message ignored as unparseable, received at most 3 times (no tight loop)", st)
	}
}

// TestQueueKill9: trawl serve killed with SIGKILL at random moments while
// it collects from its queue (before a commit, between a commit and the
// delete) and started again: every record is stored exactly once and
// every message is deleted in the end.
func TestQueueKill9(t *testing.T) {
	kills := envInt("TRAWL_CRASH_ROUNDS", 4)
	seed := uint64(envInt("TRAWL_CRASH_SEED", 1))
	srv := s3server.Start(t)
	q := sqsserver.Start(t)
	queueURL := q.CreateQueue(t, "trawl-crash", map[string]string{"VisibilityTimeout": "2"})
	proxy, err := faultproxy.Start(srv.Endpoint, faultproxy.Faults{Rate: 1 << 20}, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	data := t.TempDir()
	srv.Fill(t, "crashq", nil)
	addConnector(t, srv, data, "crashq", "crashq", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--endpoint", proxy.URL,
		"--queue-url", queueURL, "--queue-endpoint", q.Endpoint, "--queue-visibility", "2s")
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: seed, Accounts: []string{acct}, Regions: []string{"us-east-1", "eu-west-1"},
		Start: time.Now().UTC().Add(-5 * time.Hour), Span: 2 * time.Hour, Objects: 24, RecordsPerObj: 1500, PadBytes: 300})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	r := rand.New(rand.NewPCG(seed, 99))
	t.Setenv("TRAWL_BATCH_SIZE", "500") // objects commit in several parts: kills land between them
	cmd := launchServe(t, freeAddr(t), data)
	// Uploaded and announced after the first (empty) poll: only the queue
	// collects them.
	time.Sleep(time.Second)
	srv.Fill(t, "crashq", objs)
	for i, o := range objs {
		q.Send(t, queueURL, s3Event("crashq", o))
		if i%5 == 0 {
			q.Send(t, queueURL, s3Event("crashq", o)) // S3 delivers at least once
		}
	}
	inFlightKills := 0
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(500+r.IntN(2500)) * time.Millisecond)
		if _, f := queueCounts(t, q, queueURL); f > 0 {
			inFlightKills++
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		cmd = launchServe(t, freeAddr(t), data)
	}
	waitFor(t, 3*time.Minute, "the queue drained", func() bool {
		v, f := queueCounts(t, q, queueURL)
		return v == 0 && f == 0
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if inFlightKills == 0 {
		t.Fatalf("none of %d kills found messages in flight; the test proved nothing (change TRAWL_CRASH_SEED)", kills)
	}
	l, err := app.OpenLake(context.Background(), filepath.Join(data, "trawl.db"), app.LakeOptions{Catalog: catalogOf(t, data)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	it, err := l.CheckIntegrity(context.Background(), "aws_events")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kills %d (%d with messages in flight), records expected %d, rows %d, distinct ids %d", kills, inFlightKills, want, it.Rows, it.DistinctIDs)
	if it.Rows != int64(want) || it.DistinctIDs != int64(want) || it.DistinctEventIDs != int64(want) {
		t.Fatalf("lake holds %d rows (%d distinct ids, %d distinct event IDs), want exactly %d", it.Rows, it.DistinctIDs, it.DistinctEventIDs, want)
	}
}

// TestQueueThreeNodes: three nodes on one PostgreSQL catalog and S3 lake
// receive from one queue (SQS shares its messages among them); one is
// killed mid-way and restarted. Every record is stored once.
func TestQueueThreeNodes(t *testing.T) {
	c := startCluster(t, clusterPlan{nodes: 3, ttl: 2 * time.Second, batch: "50"})
	q := sqsserver.Start(t)
	queueURL := q.CreateQueue(t, "trawl-cluster", map[string]string{"VisibilityTimeout": "5"})
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(c.srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustTrawl(t, c.dirs[0], []string{"connector", "add", "--name", "q", "--tenant", "acme", "--subtype", "cloudtrail",
		"--bucket", "logs", "--prefix", "q/AWSLogs", "--access-key-id", c.srv.AccessKey, "--secret-access-key-file", secret,
		"--endpoint", c.srv.Endpoint, "--path-style", "--start", "-72h", "--run-on", "*",
		"--queue-url", queueURL, "--queue-endpoint", q.Endpoint, "--queue-visibility", "5s", "--queue-receivers", "2"}...)
	time.Sleep(2 * time.Second) // the nodes' first polls find nothing; the next is an hour away
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 21, Prefix: "q", Accounts: []string{"111111111111", "222222222222"},
		Regions: []string{"us-east-1", "eu-west-1"}, Start: time.Now().UTC().Add(-4 * time.Hour), Span: time.Hour, Objects: 10, RecordsPerObj: 200})
	want := 0
	for _, o := range objs {
		want += o.Records
	}
	bucket(t, c.srv, "logs", objs)
	for i, o := range objs {
		q.Send(t, queueURL, s3Event("logs", o))
		if i%4 == 0 {
			q.Send(t, queueURL, snsWrap(s3Event("logs", o))) // delivered twice
		}
	}
	time.Sleep(1500 * time.Millisecond)
	_ = c.cmds[1].Process.Signal(syscall.SIGKILL)
	_ = c.cmds[1].Wait()
	c.restart(1)
	c.waitFor(3*time.Minute, "the queue drained and every record searchable", func() bool {
		v, f := queueCounts(t, q, queueURL)
		return v == 0 && f == 0 && c.count(0, "q") == want
	})
	total, dups := exportedIDs(t, c.dirs[2])
	if total != want || len(dups) > 0 {
		t.Fatalf("%d records exported (%d ids twice), want exactly %d", total, len(dups), want)
	}
	busy := 0
	for i := range c.dirs {
		if num(queueStatus(t, c.dirs[i], "q"), "received") > 0 {
			busy++
		}
	}
	t.Logf("%d records from %d objects, %d of 3 nodes received messages since their last start", want, len(objs), busy)
}

// TestQueueTestAndPolicy: `trawl connector test` checks the queue (a
// missing one is a 404 with what to do), and `trawl connector policy`
// grants the queue's four actions on its ARN.
func TestQueueTestAndPolicy(t *testing.T) {
	srv := s3server.Start(t)
	q := sqsserver.Start(t)
	queueURL := q.CreateQueue(t, "trawl-tested", nil)
	data := t.TempDir()
	stop := startServe(t, data)
	defer stop()
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 3, Accounts: []string{acct}, Regions: []string{"us-east-1"},
		Start: time.Now().UTC().Add(-3 * time.Hour), Span: time.Hour, Objects: 2, RecordsPerObj: 5})
	srv.Fill(t, "tested", objs)
	addConnector(t, srv, data, "tested", "tested", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey,
		"--queue-url", queueURL, "--queue-endpoint", q.Endpoint)
	q.Send(t, queueURL, s3TestEvent)
	var res struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name, Detail, Explanation, Recommendation string
			OK                                        bool
			Status                                    int
		} `json:"checks"`
	}
	test := func() {
		res.Checks = nil
		r := trawl(t, data, nil, "connector", "test", "tested", "--tenant", "acme", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("connector test --json: %v\n%s\n%s", err, r.stdout, r.stderr)
		}
	}
	test()
	last := res.Checks[len(res.Checks)-1]
	if !res.OK || last.Name != "queue" || !last.OK || !strings.Contains(last.Detail, "visibility timeout") {
		t.Fatalf("test with a reachable queue: %+v", res)
	}
	mustTrawl(t, data, "connector", "edit", "tested", "--tenant", "acme",
		"--queue-url", strings.Replace(queueURL, "trawl-tested", "no-such-queue", 1))
	test()
	last = res.Checks[len(res.Checks)-1]
	if res.OK || last.Name != "queue" || last.Status != 404 || !strings.Contains(last.Recommendation, "queue URL") {
		t.Fatalf("test with a missing queue: %+v", res)
	}
	var pol struct {
		Permissions struct {
			Statement []struct {
				Sid      string
				Action   any
				Resource any
			}
		} `json:"permissions_policy"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "policy", "tested", "--tenant", "acme")), &pol); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, st := range pol.Permissions.Statement {
		if st.Sid == "TrawlReceiveObjectNotifications" {
			found = fmt.Sprint(st.Action) == "[sqs:ReceiveMessage sqs:DeleteMessage sqs:ChangeMessageVisibility sqs:GetQueueAttributes]" &&
				st.Resource == "arn:aws:sqs:us-east-1:000000000000:no-such-queue"
		}
	}
	if !found {
		t.Fatalf("the policy does not grant the queue's actions on its ARN: %+v", pol)
	}
}

// TestQueueSettingsRefused: from an outside try: a second connector on a
// queue another reads (each would drop half of the other's notifications),
// a URL carrying a password, a region the URL contradicts and a KMS "*"
// are refused with the field and the fix; a new URL brings its region.
func TestQueueSettingsRefused(t *testing.T) {
	srv := s3server.Start(t)
	data := t.TempDir()
	stop := startServe(t, data)
	defer stop()
	const q1 = "https://sqs.us-east-1.amazonaws.com/123456789012/trawl-one"
	addConnector(t, srv, data, "first", "shared", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey, "--queue-url", q1)
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(srv.SecretKey), 0o600)
	add := func(name string, extra ...string) result {
		return trawl(t, data, nil, append([]string{"connector", "add", "--name", name, "--tenant", "acme", "--subtype", "vpcflow", "--bucket", "shared",
			"--prefix", "AWSLogs/" + acct + "/vpcflowlogs", "--access-key-id", srv.AccessKey, "--secret-access-key-file", sf,
			"--endpoint", srv.Endpoint, "--path-style"}, extra...)...)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--queue-url", strings.ToUpper(q1[:36]) + q1[36:]}, "connector first already reads this queue"},
		{[]string{"--queue-url", "https://user:secret@sqs.us-east-1.amazonaws.com/123456789012/q"}, "never in a URL"},
		{[]string{"--queue-url", "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "--queue-region", "us-west-2"}, "the queue URL is in eu-west-1"},
		{[]string{"--queue-url", "https://sqs.us-east-1.amazonaws.com/12345/q"}, "12-digit AWS account ID"},
		{[]string{"--queue-receivers", "0", "--queue-url", "https://sqs.us-east-1.amazonaws.com/123456789012/q"}, "at least 1"},
	} {
		r := add("second", tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.says) || strings.Contains(r.stderr, "user:secret") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal saying %q", tc.args, r.code, r.stderr, tc.says)
		}
	}
	mustTrawl(t, data, "connector", "edit", "first", "--tenant", "acme", "--queue-url", "https://sqs.eu-west-1.amazonaws.com/123456789012/trawl-moved")
	var shown struct {
		Connector struct {
			QueueRegion string `json:"queue_region"`
		} `json:"connector"`
	}
	if err := json.Unmarshal([]byte(mustTrawl(t, data, "connector", "show", "first", "--tenant", "acme")), &shown); err != nil || shown.Connector.QueueRegion != "eu-west-1" {
		t.Fatalf("after moving the queue to eu-west-1 its region is %q (%v)", shown.Connector.QueueRegion, err)
	}
	if r := trawl(t, data, nil, "connector", "policy", "first", "--tenant", "acme", "--queue-kms-key-arn", "*"); r.code == 0 || !strings.Contains(r.stderr, "not a KMS key ARN") {
		t.Errorf("policy with --queue-kms-key-arn '*': exit %d, %q", r.code, r.stderr)
	}
}
