package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/trawlhq/trawl/internal/netguard"
	"github.com/trawlhq/trawl/internal/source"
)

// QueueConfig says how to reach the SQS queue S3 notifies of new objects.
// The queue is read with the bucket's credentials, over the bucket's
// guarded transport (proxy, network guard at dial time).
type QueueConfig struct {
	URL      string
	Region   string // empty: the bucket's
	Endpoint string // empty: AWS's endpoint of Region
}

// Queue is a connected queue.
type Queue struct {
	url    string
	client *sqs.Client
}

// Queue connects to the connector's queue. It does not make a request.
func (b *Bucket) Queue(qc QueueConfig) *Queue {
	client := sqs.NewFromConfig(b.aws, func(o *sqs.Options) {
		if qc.Region != "" {
			o.Region = qc.Region
		}
		if qc.Endpoint != "" {
			o.BaseEndpoint = aws.String(qc.Endpoint)
		}
		o.HTTPClient = &http.Client{Transport: b.rt, CheckRedirect: netguard.NoRedirects}
	})
	return &Queue{url: qc.URL, client: client}
}

// URL is the queue's URL.
func (q *Queue) URL() string { return q.url }

// ReceivedMessage is one message received from the queue.
type ReceivedMessage struct {
	ID      string
	Receipt string
	Body    string
	// ReceiveCount is how many times SQS has handed the message out
	// (ApproximateReceiveCount): above 1, an earlier receiver did not
	// delete it.
	ReceiveCount int
	Sent         time.Time
}

// Receive long-polls for up to limit messages (1..10), waiting up to wait
// (whole seconds, at most 20), hiding them for visibility.
func (q *Queue) Receive(ctx context.Context, limit int, wait, visibility time.Duration) ([]ReceivedMessage, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         int32(min(max(limit, 1), 10)),
		WaitTimeSeconds:             int32(min(wait/time.Second, 20)),
		VisibilityTimeout:           int32(visibility / time.Second),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount, sqstypes.MessageSystemAttributeNameSentTimestamp},
	})
	if err != nil {
		return nil, classifyQueue(err, source.OpQueueReceive, q.url)
	}
	msgs := make([]ReceivedMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		rm := ReceivedMessage{ID: aws.ToString(m.MessageId), Receipt: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body)}
		rm.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		if ms, err := strconv.ParseInt(m.Attributes[string(sqstypes.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
			rm.Sent = time.UnixMilli(ms).UTC()
		}
		msgs = append(msgs, rm)
	}
	return msgs, nil
}

// Hide sets the messages' visibility timeout to d from now: longer, to keep
// a message in progress from going to another receiver; or a backoff, for
// one to come back later. It returns the messages SQS did not change (gone:
// deleted, or their receipt expired), which is not an error.
func (q *Queue) Hide(ctx context.Context, msgs []ReceivedMessage, d time.Duration) (failed []string, err error) {
	for start := 0; start < len(msgs); start += 10 {
		part := msgs[start:min(start+10, len(msgs))]
		entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(part))
		for i, m := range part {
			entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Receipt),
				VisibilityTimeout: int32(min(d, 12*time.Hour) / time.Second)}
		}
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return failed, classifyQueue(err, source.OpQueueVisibility, q.url)
		}
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			failed = append(failed, part[i].ID)
		}
	}
	return failed, nil
}

// Delete deletes messages, ten per request. It returns the IDs SQS did not
// delete with why (a receipt that expired: the message went to another
// receiver, which deletes it once it finds the object collected).
func (q *Queue) Delete(ctx context.Context, msgs []ReceivedMessage) (map[string]string, error) {
	failed := map[string]string{}
	for start := 0; start < len(msgs); start += 10 {
		part := msgs[start:min(start+10, len(msgs))]
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(part))
		for i, m := range part {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Receipt)}
		}
		out, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return failed, classifyQueue(err, source.OpQueueDelete, q.url)
		}
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			failed[part[i].ID] = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
		}
	}
	return failed, nil
}

// QueueAttributes is what GetQueueAttributes tells about a queue.
type QueueAttributes struct {
	Visible    int64 // ApproximateNumberOfMessages
	InFlight   int64 // ApproximateNumberOfMessagesNotVisible
	Delayed    int64 // ApproximateNumberOfMessagesDelayed
	Visibility time.Duration
	// KMSKey is the queue's SSE-KMS key (empty: none, or SQS-managed).
	KMSKey string
	// DeadLetter is the dead-letter queue's ARN of its redrive policy.
	DeadLetter      string
	MaxReceiveCount int
}

// Attributes reads the queue's attributes: Test's check that the queue
// exists and may be read, and the counts /metrics shows.
func (q *Queue) Attributes(ctx context.Context) (QueueAttributes, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		return QueueAttributes{}, classifyQueue(err, source.OpQueueAttributes, q.url)
	}
	a := out.Attributes
	n := func(k sqstypes.QueueAttributeName) int64 { v, _ := strconv.ParseInt(a[string(k)], 10, 64); return v }
	qa := QueueAttributes{Visible: n(sqstypes.QueueAttributeNameApproximateNumberOfMessages),
		InFlight:   n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		Delayed:    n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed),
		Visibility: time.Duration(n(sqstypes.QueueAttributeNameVisibilityTimeout)) * time.Second,
		KMSKey:     a[string(sqstypes.QueueAttributeNameKmsMasterKeyId)]}
	if rp := a[string(sqstypes.QueueAttributeNameRedrivePolicy)]; rp != "" {
		qa.DeadLetter, qa.MaxReceiveCount = redrive(rp)
	}
	return qa, nil
}

// redrive reads a RedrivePolicy attribute ({"deadLetterTargetArn": ...,
// "maxReceiveCount": N}, the count a number or a string).
func redrive(rp string) (string, int) {
	var p struct {
		Arn   string          `json:"deadLetterTargetArn"`
		Count json.RawMessage `json:"maxReceiveCount"`
	}
	if json.Unmarshal([]byte(rp), &p) != nil {
		return "", 0
	}
	n, _ := strconv.Atoi(strings.Trim(string(p.Count), `"`))
	return p.Arn, n
}

// classifyQueue explains an SQS failure like an S3 one: the status it maps
// to, what SQS answered, and what to change.
func classifyQueue(err error, op, target string) error {
	var api smithy.APIError
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	e, ok := Classify(err, op, target).(*source.Error)
	if !ok {
		return err
	}
	switch {
	case code == "QueueDoesNotExist" || code == "AWS.SimpleQueueService.NonExistentQueue" || strings.Contains(code, "NonExistentQueue"):
		set(e, 404, "the queue does not exist (or is in another account or region).", "Check the queue URL and the queue region; the URL is on the queue's page in the SQS console.")
	case strings.HasPrefix(code, "KMS.") || strings.Contains(strings.ToLower(code), "kms"):
		set(e, 403, "the queue is encrypted with a KMS key these credentials cannot use ("+code+").", "Grant kms:Decrypt on the queue's key, in the key policy and the IAM policy (trawl connector policy --queue-kms-key-arn includes it).")
	case code == "InvalidClientTokenId" || code == "UnrecognizedClientException":
		set(e, 401, "SQS does not know this access key ID.", "Check the access key ID, or create a new access key in IAM and update the connector.")
	case code == "AccessDenied" || code == "AccessDeniedException" || e.HTTPStatus == 403 && e.Status != 401:
		set(e, 403, "the credentials are valid but are not allowed to "+queueAction(op)+" on this queue.",
			"Grant sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility and sqs:GetQueueAttributes on the queue's ARN (the connector's generated policy has them), and check the queue's access policy.")
	case code == "RequestThrottled" || code == "ThrottlingException" || code == "KMS.ThrottlingException":
		set(e, 429, "SQS is throttling requests.", "Trawl backs off and retries; fewer receivers (queue_receivers) send fewer requests.")
		e.Retryable = true
	case code == "InvalidAddress" || code == "InvalidParameterValue" && strings.Contains(strings.ToLower(api.ErrorMessage()), "url"):
		set(e, 400, "SQS rejected the queue URL: "+api.ErrorMessage(), "Copy the queue URL from the SQS console, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/trawl-cloudtrail.")
	}
	if e.Status >= 500 && code == "" && e.HTTPStatus >= 500 {
		e.Explanation = strings.Replace(e.Explanation, "S3", "SQS", 1)
	}
	return e
}

func queueAction(op string) string {
	switch op {
	case source.OpQueueReceive:
		return "receive messages (sqs:ReceiveMessage)"
	case source.OpQueueDelete:
		return "delete messages (sqs:DeleteMessage)"
	case source.OpQueueVisibility:
		return "change message visibility (sqs:ChangeMessageVisibility)"
	case source.OpQueueAttributes:
		return "read the queue's attributes (sqs:GetQueueAttributes)"
	}
	return fmt.Sprintf("use the queue (%s)", op)
}
