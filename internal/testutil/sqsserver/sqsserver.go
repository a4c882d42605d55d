// Package sqsserver starts fauxqs, a real SQS server (npm package fauxqs
// 1.9.2, pinned in test/sqs and installed there by
// scripts/install-sqs-server.sh, which make test runs), on a loopback port
// for tests, with node and test/sqs/server.mjs. State lives in the server's
// memory: each Start is a new, empty server, gone when the test ends.
//
// fauxqs speaks SQS's JSON protocol (aws-sdk-go-v2/service/sqs since
// v1.28.0) and behaves as AWS in what was checked (docs/testing.md): send
// (and batch) with MD5s, long polling, up to 10 messages a receive, system
// attributes (ApproximateReceiveCount, SentTimestamp), visibility expiry and
// redelivery, ChangeMessageVisibility (and batch), DeleteMessage (and batch),
// GetQueueAttributes counts, redrive to a dead-letter queue after
// maxReceiveCount receives, QueueDoesNotExist. Where it is not AWS:
//
//   - Queue URLs are http://sqs.us-east-1.localhost:PORT/000000000000/NAME,
//     whose host does not resolve: a client must be given the endpoint
//     (Endpoint, http://127.0.0.1:PORT) and never derive it from a queue
//     URL. Client does so.
//   - It checks no signature: any credentials are accepted, so a test
//     cannot prove that a caller signs correctly or is refused.
//   - It refuses bodies with characters beyond U+FFFF (an emoji):
//     InvalidMessageContents, which the SDK reports as a generic error coded
//     AWS.SimpleQueueService.InvalidMessageContents; AWS accepts them.
//   - ListDeadLetterSourceQueues answers InvalidAction.
//   - ChangeMessageVisibility on a deleted message answers
//     MessageNotInflight (AWS: ReceiptHandleIsInvalid or
//     InvalidParameterValue): match errors on "not usable", not on a code.
//   - S3 cannot send it notifications (neither fauxqs's own S3 nor
//     versitygw supports PutBucketNotificationConfiguration): a test
//     uploads to versitygw and sends the AWS-shaped event itself (Send).
//   - SNS (not wrapped here) delivers envelopes whose Signature is
//     "EXAMPLE": signature checks of SNS messages must be switchable off.
//
// Without node, or without npm ci in test/sqs, Start skips the test, except
// under CI (CI set), where that is a failure.
package sqsserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trawlhq/trawl/internal/testutil/modroot"
)

// Region is the region of every queue (and of the client's signature).
const Region = "us-east-1"

// Credentials a client may use; fauxqs accepts any.
const (
	AccessKey = "TRAWLSQSTESTACCESSKEY"
	SecretKey = "trawl-sqs-secret-key-for-tests-only"
)

// StartTimeout bounds the wait for the server to listen.
const StartTimeout = 30 * time.Second

// Server is a running fauxqs.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Port     int

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{} // closed when the process has exited
	mu     sync.Mutex
	out    []string // the last lines of its stdout and stderr
	client *sqs.Client
}

// Dir is test/sqs under the module root ("" when no go.mod is found).
func Dir() string {
	root := modroot.Root()
	if root == "" {
		return ""
	}
	return filepath.Join(root, "test", "sqs")
}

// missing skips the test, or fails it under CI.
func missing(t testing.TB, what string) {
	t.Helper()
	modroot.Missing(t, what+": the SQS server (fauxqs) cannot run: run scripts/install-sqs-server.sh (make test does)")
}

// Start starts fauxqs on a free loopback port (the server picks it and
// reports it) and waits, at most StartTimeout, until it listens. It stops
// when the test ends; if the test process dies instead, the server sees
// its stdin close and exits.
func Start(t testing.TB) *Server {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not on PATH")
	}
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "package.json")); dir == "" || err != nil {
		missing(t, "fauxqs is not installed in test/sqs (npm ci)")
	}
	s := &Server{done: make(chan struct{})}
	s.cmd = exec.Command(node, "server.mjs", "0")
	s.cmd.Dir = dir
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start fauxqs (node server.mjs in %s): %v", dir, err)
	}
	ready := make(chan int, 1)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); s.read(stdout, ready) }()
	go func() { defer readers.Done(); s.read(stderr, nil) }()
	go func() {
		readers.Wait() // Wait must follow the reads of the pipes
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.stop)

	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case port := <-ready:
		s.Port = port
		s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
		return s
	case <-s.done:
		t.Fatalf("fauxqs exited before listening (%v); output:\n%s", s.cmd.ProcessState, s.Output())
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		t.Fatalf("fauxqs did not listen within %v; output:\n%s", StartTimeout, s.Output())
	}
	return nil
}

// read keeps the last lines of r; the first "listening PORT" goes to ready.
func (s *Server) read(r io.Reader, ready chan<- int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if ready != nil {
			if p, ok := strings.CutPrefix(line, "listening "); ok {
				if port, err := strconv.Atoi(p); err == nil && port > 0 {
					ready <- port
					ready = nil
					continue
				}
			}
		}
		s.mu.Lock()
		s.out = append(s.out, line)
		if len(s.out) > 200 {
			s.out = s.out[len(s.out)-200:]
		}
		s.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// Pid is the server's process ID (node's, which runs fauxqs in one
// process): a benchmark reads its CPU time in /proc to say how much of the
// machine the queue side of a test took.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Output returns the last lines the server wrote (errors; requests too
// with FAUXQS_LOGGER=true).
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.out, "\n")
}

// stop closes the server's stdin (it exits), then kills it after 5 s.
func (s *Server) stop() {
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Client returns an SQS client of the server: its endpoint set explicitly,
// region us-east-1, static test credentials, no shared configuration or
// environment read.
func (s *Server) Client() *sqs.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = sqs.New(sqs.Options{
			Region:       Region,
			BaseEndpoint: aws.String(s.Endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		})
	}
	return s.client
}

func ctx10s() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// CreateQueue creates a queue with attributes (VisibilityTimeout,
// RedrivePolicy, ...) and returns its URL.
func (s *Server) CreateQueue(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	out, err := s.Client().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// QueueARN returns a queue's ARN (what a RedrivePolicy names).
func (s *Server) QueueARN(t testing.TB, queueURL string) string {
	t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	out, err := s.Client().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("queue ARN of %s: %v", queueURL, err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)]
}

// Send sends one message.
func (s *Server) Send(t testing.TB, queueURL, body string) {
	t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	if _, err := s.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("send to %s: %v", queueURL, err)
	}
}

// RedrivePolicy is the RedrivePolicy attribute sending a message to the
// queue dlqARN once it has been received maxReceiveCount times.
func RedrivePolicy(dlqARN string, maxReceiveCount int) string {
	b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": maxReceiveCount})
	return string(b)
}
