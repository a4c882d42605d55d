package app

import (
	"strings"

	"github.com/trawlhq/trawl/internal/connector"
)

// Invalid input other than a connector: each kind has its own type, so its
// message starts with what was refused ("invalid rule: id: ..."), and the
// API answers 400 with the problems as it does for a connector.

// InvalidInput is an error of input a user fixes, listing each field's
// problem (the API maps it to 400).
type InvalidInput interface {
	error
	Invalid() []connector.Problem
}

// RuleError is a detection rule (or a rule id) refused.
type RuleError struct{ Problems []connector.Problem }

func (e *RuleError) Error() string                { return "invalid rule: " + problemText(e.Problems) }
func (e *RuleError) Invalid() []connector.Problem { return e.Problems }

// WebhookError is a webhook refused.
type WebhookError struct{ Problems []connector.Problem }

func (e *WebhookError) Error() string                { return "invalid webhook: " + problemText(e.Problems) }
func (e *WebhookError) Invalid() []connector.Problem { return e.Problems }

// PublicKeysError is a public keys file refused.
type PublicKeysError struct{ Problems []connector.Problem }

func (e *PublicKeysError) Error() string                { return "invalid public keys: " + problemText(e.Problems) }
func (e *PublicKeysError) Invalid() []connector.Problem { return e.Problems }

func problemText(ps []connector.Problem) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Field + ": " + p.Message
	}
	return strings.Join(parts, "; ")
}

func ruleProblem(field, msg string) error {
	return &RuleError{Problems: []connector.Problem{{Field: field, Message: msg}}}
}

func webhookProblem(field, msg string) error {
	return &WebhookError{Problems: []connector.Problem{{Field: field, Message: msg}}}
}

// RetentionError is a retention setting refused.
type RetentionError struct{ Problems []connector.Problem }

func (e *RetentionError) Error() string                { return "invalid retention: " + problemText(e.Problems) }
func (e *RetentionError) Invalid() []connector.Problem { return e.Problems }

func retentionProblem(field, msg string) error {
	return &RetentionError{Problems: []connector.Problem{{Field: field, Message: msg}}}
}
