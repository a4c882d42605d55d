// Package notify reads the body of one SQS message that announces new S3
// objects (S3 writes a log object, and S3, CloudTrail or EventBridge tells a
// queue, directly or through SNS) and says which objects it announces.
//
// It is pure parsing: no AWS call, no state. Parse never fails; a body it
// cannot use is Ignored with a Reason and a Detail for the operator's log.
//
// How each envelope spells an object key, from AWS's documentation:
//
//   - S3 event notifications (Records[].s3.object.key): URL-encoded as
//     application/x-www-form-urlencoded, "red flower.jpg" arriving as
//     "red+flower.jpg" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
//     Decoded with DecodeKey, whether the event came directly or through SNS.
//   - CloudTrail's own SNS notification (s3ObjectKey): the documentation says
//     the Message "lists the full path to the log file" and says nothing of
//     encoding; its examples are plain keys
//     (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/configure-sns-notifications-for-cloudtrail.html).
//     Taken as they are.
//   - EventBridge "Object Created" (detail.object.key): the page on the event
//     structure (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html)
//     describes the key without the "URL encoded" note the notification page
//     carries, and its examples ("example-key") cannot tell. Taken as they
//     are, so a '+' or '%' in a key stays what it is. This rests on the
//     documentation's silence, not on a statement: see eventBridgeKey.
package notify

import (
	"encoding/json"
	"fmt"
	"time"
)

// Object is one object a message announces.
type Object struct {
	Bucket    string
	Key       string    // decoded: exactly the object's key
	Size      int64     // 0 when the envelope does not say
	ETag      string    // "" when the envelope does not say
	EventTime time.Time // zero when the envelope does not say
	EventName string    // e.g. "ObjectCreated:Put", "Object Created", "cloudtrail"
}

// Reasons a message announces nothing to collect.
const (
	ReasonTestEvent   = "test-event"         // S3's s3:TestEvent when a notification is configured
	ReasonUnparseable = "unparseable"        // not JSON, or JSON of no known envelope
	ReasonNotCreated  = "not-object-created" // only events other than object creation (ObjectRemoved:*, ...)
	// ReasonSubscription is an SNS SubscriptionConfirmation or
	// UnsubscribeConfirmation. SNS sends one to a queue only when the
	// subscription needs confirming (a topic owner subscribing another
	// account's queue); a queue owner's own subscription is confirmed by AWS.
	ReasonSubscription = "sns-subscription"
)

// Envelopes a Message can come in.
const (
	EnvelopeS3             = "s3"              // an S3 event notification (or S3's test event)
	EnvelopeSNSS3          = "sns/s3"          // the same, inside an SNS notification
	EnvelopeCloudTrailSNS  = "cloudtrail-sns"  // CloudTrail's notification, in SNS or delivered raw
	EnvelopeEventBridge    = "eventbridge"     // an EventBridge event from aws.s3
	EnvelopeSNSEventBridge = "sns/eventbridge" // the same, inside an SNS notification
	EnvelopeSNS            = "sns"             // an SNS message carrying none of the above
)

// MaxBodySize is the largest body Parse reads: 256 KiB, the SQS message size
// limit Trawl was designed against. (SQS has accepted up to 1 MiB since 2025;
// no envelope read here comes near either: S3 caps an event notification at
// 64 KB.) A larger body is Ignored without being read.
const MaxBodySize = 256 << 10

// Message is what one body announces.
type Message struct {
	Envelope string   // one of the Envelope constants; "" when no envelope was recognised
	Objects  []Object // object-created events only
	Ignored  string   // a Reason when Objects is empty, else ""
	Detail   string   // for Ignored: a clear sentence naming what was wrong (e.g. which field was missing), for the operator's log
	// Problems lists what could not be read in a message that announces
	// several objects (a record with no key, a size that is not a number),
	// one sentence each, items counted from 1 ("record 2: s3.object.key is
	// missing"). The objects that could be read are in Objects; Problems is
	// for the caller to log. Empty when everything was read.
	Problems []string
}

// Parse reads one SQS message body. It never fails: what it cannot read is
// Ignored with ReasonUnparseable and a Detail.
func Parse(body []byte) Message {
	if len(body) > MaxBodySize {
		return ignored("", ReasonUnparseable, fmt.Sprintf(
			"the body is %d bytes, over the %d (256 KiB) a notification can be; it was not read", len(body), MaxBodySize))
	}
	f, problem := readObject(body, "the body")
	if problem != "" {
		return ignored("", ReasonUnparseable, problem)
	}
	return parseEnvelope(f, snsContext{})
}

// snsContext is what an SNS notification tells the message inside it.
type snsContext struct {
	inside    bool      // the fields being read are an SNS Message
	published time.Time // the SNS Timestamp: when the notification was published
}

// parseEnvelope recognises an envelope by the members only it has, matched
// by exact name, and reads it.
func parseEnvelope(f fields, sns snsContext) Message {
	switch {
	case f.has("Type") && f.has("TopicArn"):
		if sns.inside {
			return ignored("", ReasonUnparseable, "the SNS Message is itself an SNS message; Trawl reads one level of SNS")
		}
		return parseSNS(f)
	case f.has("Records"):
		return parseS3Event(f)
	case f.has("detail-type"):
		return parseEventBridge(f)
	case f.has("s3ObjectKey") || f.has("s3Bucket"):
		// With SNS raw message delivery CloudTrail's notification arrives
		// without its SNS envelope; it is still CloudTrail's notification.
		return parseCloudTrail(f, sns.published)
	case f.has("Event"):
		return parseTestEvent(f)
	}
	what := "the body"
	if sns.inside {
		what = "the SNS Message"
	}
	return ignored("", ReasonUnparseable, fmt.Sprintf(
		"%s is JSON of no known envelope: it has %s, and none of Records (S3), detail-type (EventBridge), s3ObjectKey (CloudTrail), Type and TopicArn (SNS) or Event (S3 test event)",
		what, f.names()))
}

// parseTestEvent reads S3's test message, sent once when a notification is
// configured on a bucket.
func parseTestEvent(f fields) Message {
	var ev struct {
		Event  string `json:"Event"`
		Bucket string `json:"Bucket"`
	}
	if err := json.Unmarshal(f.raw(), &ev); err != nil {
		return ignored(EnvelopeS3, ReasonUnparseable, "the S3 test event cannot be read: "+describe(err))
	}
	if ev.Event != "s3:TestEvent" {
		return ignored("", ReasonUnparseable, fmt.Sprintf(
			"the body has Event %q, and the only such message Trawl knows is S3's s3:TestEvent", ev.Event))
	}
	return ignored(EnvelopeS3, ReasonTestEvent, fmt.Sprintf(
		"S3's test message for bucket %q, sent when its event notification was configured: it announces no object", ev.Bucket))
}

// ignored is a Message that announces nothing.
func ignored(envelope, reason, detail string) Message {
	return Message{Envelope: envelope, Ignored: reason, Detail: detail}
}
