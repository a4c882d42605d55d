// Package source defines what the collector needs from a place that holds
// log objects, S3 or a local folder, and the error type that explains an
// access failure as the HTTP status it maps to, with what to do about it.
package source

import (
	"fmt"
	"time"
)

// Object is one listed object.
type Object struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
}

// OpAssumeRole is the Op of a failure to assume a connector's role through
// STS: the credentials failed, not the bucket.
const OpAssumeRole = "assume-role"

// OpListPublicKeys is the Op of a failure to list CloudTrail's public keys
// (the digest audit): CloudTrail answered, not S3.
const OpListPublicKeys = "list-public-keys"

// The Ops of a connector's SQS queue.
const (
	OpQueueReceive    = "queue-receive"
	OpQueueDelete     = "queue-delete"
	OpQueueVisibility = "queue-visibility"
	OpQueueAttributes = "queue-attributes"
)

// Service names who answered a failed operation.
func (e *Error) Service() string {
	switch e.Op {
	case OpQueueReceive, OpQueueDelete, OpQueueVisibility, OpQueueAttributes:
		return "SQS"
	case OpAssumeRole:
		return "STS"
	case OpListPublicKeys:
		return "CloudTrail"
	}
	return "S3"
}

// Error is a classified access failure.
type Error struct {
	Status         int    // the HTTP status the failure maps to
	Code           string // the store's error code, e.g. AccessDenied
	HTTPStatus     int    // the status the store actually answered, if any
	Op             string // what was being done: list, get, connect
	Target         string // bucket/prefix or key
	Explanation    string
	Recommendation string
	Retryable      bool
	Err            error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %d", e.Op, e.Target, e.Status)
	if e.Code != "" || e.HTTPStatus != 0 {
		s += " (" + e.Answer() + ")"
	}
	s += ": " + e.Explanation
	if e.Recommendation != "" {
		s += " " + e.Recommendation
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Answer describes what the store answered, e.g. "S3 answered 403 SignatureDoesNotMatch".
func (e *Error) Answer() string {
	svc := e.Service()
	switch {
	case e.HTTPStatus != 0 && e.Code != "":
		return fmt.Sprintf("%s answered %d %s", svc, e.HTTPStatus, e.Code)
	case e.HTTPStatus != 0:
		return fmt.Sprintf("%s answered %d", svc, e.HTTPStatus)
	case e.Code != "":
		return svc + " answered " + e.Code
	}
	return ""
}
