package catalog

import (
	"net/url"
	"regexp"
	"strings"
)

// A catalog location can hold a password three ways: in the URL's user
// (postgres://u:pw@h/db), as a query parameter (?password=pw, also
// sslpassword) or as a key=value word (host=h password=pw). Every message
// that shows a location, or wraps an error made from one, masks them all.

const masked = "xxxxx"

// kvPassword finds password=VALUE words, quoted or not.
var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)`)

// catalogSecrets returns the passwords s holds, as written and decoded.
func catalogSecrets(s string) []string {
	var out []string
	for _, m := range kvPassword.FindAllStringSubmatch(s, -1) {
		out = append(out, strings.Trim(m[2], "'"))
	}
	u, err := url.Parse(s)
	if err != nil {
		return out
	}
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw)
	}
	for k, vs := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			out = append(out, vs...)
		}
	}
	var all []string
	for _, v := range out {
		if v != "" {
			all = append(all, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	return all
}

// RedactCatalog returns the catalog location s with its passwords masked,
// for messages and logs.
func RedactCatalog(s string) string {
	secrets := catalogSecrets(s)
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		s = u.Redacted()
	}
	s = kvPassword.ReplaceAllString(s, "${1}"+masked)
	// Whatever the forms above missed (a password repeated elsewhere).
	return maskAll(s, secrets)
}

// maskAll replaces every secret in s, longest first (one may hold another).
func maskAll(s string, secrets []string) string {
	for {
		longest := ""
		for _, v := range secrets {
			if len(v) > len(longest) && strings.Contains(s, v) && v != masked {
				longest = v
			}
		}
		if longest == "" {
			return s
		}
		s = strings.ReplaceAll(s, longest, masked)
	}
}

// redactedError is err with the catalog's passwords masked in its text; it
// still unwraps to err.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr masks catalog's passwords in err's message (a driver's error
// may quote the connection string).
func redactErr(err error, catalog string) error {
	if err == nil {
		return nil
	}
	msg := maskAll(err.Error(), catalogSecrets(catalog))
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
