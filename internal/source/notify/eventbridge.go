package notify

import (
	"encoding/json"
	"fmt"
)

// eventBridgeEvent is the part of an S3 event on EventBridge Trawl reads
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
// AWS Security Lake notifies its subscribers' queues with these.
type eventBridgeEvent struct {
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	Time       string `json:"time"`
	Detail     *struct {
		Bucket *struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object *struct {
			Key  *string         `json:"key"`
			Size json.RawMessage `json:"size"`
			ETag string          `json:"etag"`
		} `json:"object"`
	} `json:"detail"`
}

// objectCreated is the detail-type of the one S3 event on EventBridge that
// announces an object; the others are "Object Deleted", "Object Restore
// Completed", "Object Tags Added" and so on.
const objectCreated = "Object Created"

// parseEventBridge reads one EventBridge event: one object at most.
func parseEventBridge(f fields) Message {
	var ev eventBridgeEvent
	if err := json.Unmarshal(f.raw(), &ev); err != nil {
		return ignored(EnvelopeEventBridge, ReasonUnparseable, "the EventBridge event cannot be read: "+describe(err))
	}
	if ev.Source != "aws.s3" {
		return ignored(EnvelopeEventBridge, ReasonUnparseable, fmt.Sprintf(
			"the EventBridge event comes from source %.60q, not aws.s3: it announces no S3 object", ev.Source))
	}
	if ev.DetailType != objectCreated {
		return ignored(EnvelopeEventBridge, ReasonNotCreated, fmt.Sprintf(
			"the EventBridge event is %.60q, not %q", ev.DetailType, objectCreated))
	}
	d := ev.Detail
	switch {
	case d == nil:
		return ignored(EnvelopeEventBridge, ReasonUnparseable, "the EventBridge event has no detail")
	case d.Bucket == nil || d.Bucket.Name == "":
		return ignored(EnvelopeEventBridge, ReasonUnparseable, "the EventBridge event has no detail.bucket.name")
	case d.Object == nil || d.Object.Key == nil || *d.Object.Key == "":
		return ignored(EnvelopeEventBridge, ReasonUnparseable, "the EventBridge event has no detail.object.key")
	}
	o := Object{Bucket: d.Bucket.Name, Key: eventBridgeKey(*d.Object.Key), ETag: d.Object.ETag, EventName: objectCreated}
	m := Message{Envelope: EnvelopeEventBridge}
	var p string
	if o.Size, p = parseSize(d.Object.Size, "detail.object.size"); p != "" {
		m.Problems = append(m.Problems, p)
	}
	if o.EventTime, p = parseTime(ev.Time, "time"); p != "" {
		m.Problems = append(m.Problems, p)
	}
	m.Objects = []Object{o}
	return m
}

// eventBridgeKey is the object key an EventBridge event names. AWS documents
// that S3 event notifications URL-encode keys, and documents EventBridge's
// detail.object.key without saying so (see the package doc), so the key is
// taken as it is: decoding a key that is not encoded would turn a '+' in it
// into a space and fail on a '%'. Code outside AWS's documentation does not
// settle it either: AWS Lambda Powertools for Python URL-decodes this key,
// moto's S3 emulation sends it as it is. A live "Object Created" event for a
// key with a space in it would; should it come with '+', this is the one
// place to call DecodeKey.
func eventBridgeKey(key string) string { return key }
