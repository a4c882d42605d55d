package notify

import (
	"encoding/json"
	"fmt"
	"time"
)

// snsMessage is the part of an SNS message Trawl reads
// (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html).
type snsMessage struct {
	Type         string  `json:"Type"`
	TopicArn     string  `json:"TopicArn"`
	Message      *string `json:"Message"`
	Timestamp    string  `json:"Timestamp"`
	SubscribeURL string  `json:"SubscribeURL"`
}

// parseSNS reads an SNS message as SNS delivers it to a queue without raw
// message delivery: a Notification carries the publisher's message (an S3
// event, an EventBridge event, CloudTrail's notification) as a JSON string.
func parseSNS(f fields) Message {
	var s snsMessage
	if err := json.Unmarshal(f.raw(), &s); err != nil {
		return ignored(EnvelopeSNS, ReasonUnparseable, "the SNS message cannot be read: "+describe(err))
	}
	switch s.Type {
	case "Notification":
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		return ignored(EnvelopeSNS, ReasonSubscription, subscriptionDetail(s))
	default:
		return ignored(EnvelopeSNS, ReasonUnparseable, fmt.Sprintf(
			"the SNS message from topic %.200q has Type %.40q; Trawl reads Notification", s.TopicArn, s.Type))
	}
	if s.Message == nil {
		return ignored(EnvelopeSNS, ReasonUnparseable, fmt.Sprintf(
			"the SNS notification from topic %.200q has no Message", s.TopicArn))
	}
	// The SNS Timestamp is when the notification was published: for
	// CloudTrail's notification, which carries no time, it is when the log
	// files were delivered, give or take SNS's delay.
	published, _ := parseTime(s.Timestamp, "Timestamp")
	inner, problem := readObject([]byte(*s.Message), "the SNS Message")
	if problem != "" {
		return ignored(EnvelopeSNS, ReasonUnparseable, fmt.Sprintf("SNS topic %.200q: %s", s.TopicArn, problem))
	}
	m := parseEnvelope(inner, snsContext{inside: true, published: published})
	switch m.Envelope {
	case EnvelopeS3:
		m.Envelope = EnvelopeSNSS3
	case EnvelopeEventBridge:
		m.Envelope = EnvelopeSNSEventBridge
	case "":
		m.Envelope = EnvelopeSNS
		m.Detail = fmt.Sprintf("SNS topic %.200q: %s", s.TopicArn, m.Detail)
	}
	return m
}

// subscriptionDetail tells the operator what a (un)subscribe confirmation in
// the queue means and what to do: SNS delivers nothing to a subscription
// that was never confirmed. The SubscribeURL is given because the message,
// once Trawl deletes it, is the only place it is written.
func subscriptionDetail(s snsMessage) string {
	if s.Type == "UnsubscribeConfirmation" {
		return fmt.Sprintf(
			"SNS confirms that this queue was unsubscribed from topic %.200q: nothing more will arrive from it. To subscribe again, visit %.2000q, or subscribe the queue from the queue's own account.",
			s.TopicArn, s.SubscribeURL)
	}
	return fmt.Sprintf(
		"SNS asks to confirm this queue's subscription to topic %.200q, and delivers nothing to it until then: visit %.2000q, or have the queue's own account create the subscription (AWS confirms those itself).",
		s.TopicArn, s.SubscribeURL)
}

// parseCloudTrail reads CloudTrail's own notification of delivered log files
// (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/configure-sns-notifications-for-cloudtrail.html):
// {"s3Bucket":"...","s3ObjectKey":["AWSLogs/...json.gz", ...]}. The keys are
// full paths, not URL-encoded (see the package doc); published is when SNS
// published it, zero when it was delivered raw.
func parseCloudTrail(f fields, published time.Time) Message {
	var n struct {
		S3Bucket    string            `json:"s3Bucket"`
		S3ObjectKey []json.RawMessage `json:"s3ObjectKey"`
	}
	if err := json.Unmarshal(f.raw(), &n); err != nil {
		return ignored(EnvelopeCloudTrailSNS, ReasonUnparseable, "CloudTrail's notification cannot be read: "+describe(err))
	}
	switch {
	case n.S3Bucket == "":
		return ignored(EnvelopeCloudTrailSNS, ReasonUnparseable, "CloudTrail's notification has no s3Bucket")
	case len(n.S3ObjectKey) == 0:
		return ignored(EnvelopeCloudTrailSNS, ReasonUnparseable, "CloudTrail's notification has no s3ObjectKey, or it is empty")
	}
	var c collected
	for i, raw := range n.S3ObjectKey {
		var key string
		it := item{}
		switch err := json.Unmarshal(raw, &key); {
		case err != nil:
			it = broken(fmt.Sprintf("it is %.40s, not a key", raw))
		case key == "":
			it = broken("it is empty")
		default:
			it.object = &Object{Bucket: n.S3Bucket, Key: key, EventTime: published, EventName: "cloudtrail"}
		}
		c.add(fmt.Sprintf("s3ObjectKey item %d", i+1), it)
	}
	return c.message(EnvelopeCloudTrailSNS, "key of s3ObjectKey")
}
