package notify

import (
	"encoding/json"
	"fmt"
	"strings"
)

// s3Record is the part of an S3 event notification record Trawl reads
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	EventTime   string `json:"eventTime"`
	S3          *struct {
		Bucket *struct {
			Name *string `json:"name"`
		} `json:"bucket"`
		Object *struct {
			Key  *string         `json:"key"`
			Size json.RawMessage `json:"size"`
			ETag string          `json:"eTag"`
		} `json:"object"`
	} `json:"s3"`
}

// parseS3Event reads {"Records":[...]}. Each record is decoded on its own so
// that one a reader cannot use costs only itself.
func parseS3Event(f fields) Message {
	var records []json.RawMessage
	if err := json.Unmarshal(f["Records"], &records); err != nil {
		return ignored(EnvelopeS3, ReasonUnparseable, "the S3 event's Records is not a list: "+describe(err))
	}
	if len(records) == 0 {
		return ignored(EnvelopeS3, ReasonUnparseable, "the S3 event's Records is empty: it announces no object")
	}
	var c collected
	for i, raw := range records {
		c.add(fmt.Sprintf("record %d", i+1), readS3Record(raw))
	}
	return c.message(EnvelopeS3, "record")
}

// readS3Record reads one record: an object, an event that is not object
// creation, or why it cannot be read.
func readS3Record(raw json.RawMessage) item {
	var r s3Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return broken(describe(err))
	}
	// S3 writes "aws:s3"; S3-compatible stores write their own prefix
	// (MinIO: "minio:s3"). Another service's record is not an S3 event.
	if r.EventSource != "" && !strings.HasSuffix(r.EventSource, ":s3") {
		return broken(fmt.Sprintf("eventSource is %.40q, not aws:s3", r.EventSource))
	}
	if r.EventName == "" {
		return broken("eventName is missing")
	}
	// AWS writes eventName without the "s3:" of the configured event type;
	// S3-compatible stores (MinIO) keep it.
	name := strings.TrimPrefix(r.EventName, "s3:")
	if !strings.HasPrefix(name, "ObjectCreated:") {
		return item{other: name}
	}
	switch {
	case r.S3 == nil:
		return broken("s3 is missing")
	case r.S3.Bucket == nil || r.S3.Bucket.Name == nil:
		return broken("s3.bucket.name is missing")
	case *r.S3.Bucket.Name == "":
		return broken("s3.bucket.name is empty")
	case r.S3.Object == nil || r.S3.Object.Key == nil:
		return broken("s3.object.key is missing")
	case *r.S3.Object.Key == "":
		return broken("s3.object.key is empty")
	}
	// The key is URL-encoded in S3 event notifications; see the package doc.
	key, err := DecodeKey(*r.S3.Object.Key)
	if err != nil {
		return broken(fmt.Sprintf("s3.object.key %.80q cannot be decoded: %v", *r.S3.Object.Key, err))
	}
	o := Object{Bucket: *r.S3.Bucket.Name, Key: key, ETag: r.S3.Object.ETag, EventName: name}
	var it item
	var p string
	if o.Size, p = parseSize(r.S3.Object.Size, "s3.object.size"); p != "" {
		it.problems = append(it.problems, p)
	}
	if o.EventTime, p = parseTime(r.EventTime, "eventTime"); p != "" {
		it.problems = append(it.problems, p)
	}
	it.object = &o
	return it
}

// item is what one record (or one key of a list) comes to.
type item struct {
	object   *Object  // the object it announces, if it announces one
	other    string   // the event it announces instead, if not object creation
	problems []string // what was wrong; with no object and no other event, why nothing was read
}

func broken(problem string) item { return item{problems: []string{problem}} }

// collected gathers the items of one message.
type collected struct {
	objects  []Object
	others   []string // events other than object creation, each once, in order
	problems []string // each prefixed with the item's name
	broken   int      // items that could not be read at all
}

func (c *collected) add(name string, it item) {
	for _, p := range it.problems {
		c.problems = append(c.problems, name+": "+p)
	}
	switch {
	case it.object != nil:
		c.objects = append(c.objects, *it.object)
	case it.other != "":
		for _, o := range c.others {
			if o == it.other {
				return
			}
		}
		c.others = append(c.others, it.other)
	default:
		c.broken++
	}
}

// message is the Message for what was collected. Objects win: a message
// with one readable object is collected, its problems listed. With none, an
// unreadable item makes it unparseable (it may have been the object); only
// when every item was read and none was a creation is it not-object-created.
func (c *collected) message(envelope, what string) Message {
	m := Message{Envelope: envelope, Objects: c.objects, Problems: c.problems}
	switch {
	case len(c.objects) > 0:
	case c.broken > 0:
		m.Ignored = ReasonUnparseable
		m.Detail = fmt.Sprintf("no %s could be read: %s", what, c.problems[0])
		if len(c.problems) > 1 {
			m.Detail += fmt.Sprintf(" (and %d more in Problems)", len(c.problems)-1)
		}
	default:
		m.Ignored = ReasonNotCreated
		m.Detail = "the message announces no object creation, only " + strings.Join(c.others, ", ")
	}
	return m
}
