package sqsserver

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// TestSQSServer proves the harness on what an SQS consumer does: a queue
// with a 2 s visibility timeout and a dead-letter queue after 2 receives;
// three messages (one unicode) received by long polls of up to 10, with
// their receive counts; one made visible again by ChangeMessageVisibility,
// two deleted in a batch; the queue's counts; and the undeleted one moved to
// the dead-letter queue once its visibility expires after its second
// receive. Every wait is bounded.
func TestSQSServer(t *testing.T) {
	s := Start(t)
	c := s.Client()

	dlq := s.CreateQueue(t, "trawl-harness-dlq", nil)
	q := s.CreateQueue(t, "trawl-harness", map[string]string{
		"VisibilityTimeout": "2",
		"RedrivePolicy":     RedrivePolicy(s.QueueARN(t, dlq), 2),
	})
	t.Logf("endpoint %s, queue URL %s", s.Endpoint, q)

	plain := "plain body"
	// Characters of the Basic Multilingual Plane only: fauxqs refuses the
	// others (see the package comment and the end of this test).
	unicode := "ünïcödé ✓ 日本語 \u00a0tab\tend\r\n\ufffd"
	event := `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"logs"},"object":{"key":"AWSLogs/a+b%3Dc.json.gz","size":42}}}]}`
	for _, b := range []string{plain, unicode, event} {
		s.Send(t, q, b)
	}

	// An empty long poll blocks for its wait, then answers nothing.
	start := time.Now()
	if got := receive(t, c, dlq, 1); len(got) != 0 {
		t.Fatalf("the empty dead-letter queue gave %d messages", len(got))
	}
	if d := time.Since(start); d < 800*time.Millisecond || d > 5*time.Second {
		t.Errorf("an empty long poll of 1 s took %v", d)
	}

	// First receives: all three, each received once.
	byBody := map[string]types.Message{}
	for i := 0; i < 10 && len(byBody) < 3; i++ {
		for _, m := range receive(t, c, q, 10) {
			if _, dup := byBody[aws.ToString(m.Body)]; dup {
				t.Fatalf("received %q twice within its visibility timeout", aws.ToString(m.Body))
			}
			byBody[aws.ToString(m.Body)] = m
		}
	}
	var bodies []string
	for b, m := range byBody {
		bodies = append(bodies, b)
		if n := m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; n != "1" {
			t.Errorf("%q: ApproximateReceiveCount %q, want 1", b, n)
		}
	}
	sort.Strings(bodies)
	want := []string{event, plain, unicode}
	sort.Strings(want)
	if len(bodies) != 3 || bodies[0] != want[0] || bodies[1] != want[1] || bodies[2] != want[2] {
		t.Fatalf("received bodies %q, want %q", bodies, want)
	}
	if n := attr(t, c, q, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible); n != 3 {
		t.Errorf("in flight after the first receive: %d, want 3", n)
	}

	// The event becomes visible again at once; plain and unicode are deleted.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(q), ReceiptHandle: byBody[event].ReceiptHandle, VisibilityTimeout: 0,
	}); err != nil {
		t.Fatalf("ChangeMessageVisibility: %v", err)
	}
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("plain"), ReceiptHandle: byBody[plain].ReceiptHandle},
		{Id: aws.String("unicode"), ReceiptHandle: byBody[unicode].ReceiptHandle},
	}})
	if err != nil {
		t.Fatalf("DeleteMessageBatch: %v", err)
	}
	if len(del.Successful) != 2 || len(del.Failed) != 0 {
		t.Fatalf("DeleteMessageBatch: %d deleted, %d failed (%+v)", len(del.Successful), len(del.Failed), del.Failed)
	}
	if n := attr(t, c, q, types.QueueAttributeNameApproximateNumberOfMessages); n != 1 {
		t.Errorf("visible after deleting 2 and releasing 1: %d, want 1", n)
	}

	// Second receive of the event: no wait for its timeout, count 2.
	var again []types.Message
	for i := 0; i < 5 && len(again) == 0; i++ {
		again = receive(t, c, q, 10)
	}
	if len(again) != 1 || aws.ToString(again[0].Body) != event {
		t.Fatalf("after ChangeMessageVisibility 0: received %d messages, want the event alone", len(again))
	}
	if n := again[0].Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; n != "2" {
		t.Errorf("second receive: ApproximateReceiveCount %q, want 2", n)
	}
	if n := attr(t, c, q, types.QueueAttributeNameApproximateNumberOfMessages); n != 0 {
		t.Errorf("visible while the event is in flight: %d, want 0", n)
	}

	// Not deleted: once its 2 s visibility expires, the next receive moves it
	// to the dead-letter queue instead of handing it out a third time.
	deadline := time.Now().Add(15 * time.Second)
	var dead []types.Message
	for i := 0; i < 15 && len(dead) == 0 && time.Now().Before(deadline); i++ {
		for _, m := range receive(t, c, q, 10) {
			t.Fatalf("received %q a third time (count %s) past maxReceiveCount 2", aws.ToString(m.Body),
				m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		}
		dead = receive(t, c, dlq, 0)
	}
	if len(dead) != 1 || aws.ToString(dead[0].Body) != event {
		t.Fatalf("dead-letter queue: %d messages, want the event", len(dead))
	}
	for _, name := range []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		if n := attr(t, c, q, name); n != 0 {
			t.Errorf("%s of the emptied queue: %d, want 0", name, n)
		}
	}

	// Unlike AWS, fauxqs refuses characters beyond U+FFFF (its check reads
	// UTF-16 units): when this fails, fauxqs has been fixed; update the
	// package comment and docs/testing.md.
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("fish \U0001F41F")})
	var apiErr smithy.APIError
	// (The SDK reports the code of fauxqs's x-amzn-query-error header,
	// AWS.SimpleQueueService.InvalidMessageContents, as a generic error.)
	if !errors.As(err, &apiErr) || !strings.HasSuffix(apiErr.ErrorCode(), "InvalidMessageContents") {
		t.Errorf("a body with U+1F41F: %v, want fauxqs's InvalidMessageContents", err)
	}

	// A queue that does not exist is QueueDoesNotExist.
	_, err = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q + "-nope")})
	var qdne *types.QueueDoesNotExist
	if !errors.As(err, &qdne) {
		t.Errorf("attributes of a missing queue: %v, want QueueDoesNotExist", err)
	}
}

// receive long-polls once for up to wait seconds, at most 10 messages, with
// their receive counts.
func receive(t *testing.T, c *sqs.Client, queueURL string, wait int32) []types.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(wait)*time.Second+10*time.Second)
	defer cancel()
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(queueURL),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		t.Fatalf("receive from %s: %v", queueURL, err)
	}
	return out.Messages
}

func attr(t *testing.T, c *sqs.Client, queueURL string, name types.QueueAttributeName) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{name}})
	if err != nil {
		t.Fatalf("GetQueueAttributes %s: %v", name, err)
	}
	n, err := strconv.Atoi(out.Attributes[string(name)])
	if err != nil {
		t.Fatalf("%s = %q: %v", name, out.Attributes[string(name)], err)
	}
	return n
}
