package prefix

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/source"
)

// RangeLister lists a bucket from a key on (S3's ListObjectsV2 with
// StartAfter), besides one level at a time: what discovery and listing
// need for folders of objects named by time.
type RangeLister interface {
	Lister
	List(ctx context.Context, prefix, startAfter string, fn func(source.Object) error) error
}

// NamedByTime reports whether name, an object's name within its folder,
// starts with the time S3 names server access log objects by:
// YYYY-MM-DD-HH-MM-SS- (then a unique string).
func NamedByTime(name string) bool {
	const layout = "2006-01-02-15-04-05-"
	if len(name) <= len(layout) {
		return false
	}
	for i := 0; i < len(layout); i++ {
		c := name[i]
		if layout[i] == '-' {
			if c != '-' {
				return false
			}
		} else if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// sourceAccount is the account of a folder of the date-partitioned key
// format of S3 server access logs, <prefix><account>/<region>/..., which
// has no AWSLogs/ folder for Account to find it by.
var sourceAccount = regexp.MustCompile(`(?:^|/)([0-9]{12})/(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9])/`)

// accountOf is the account a folder belongs to: Account's, else a
// date-partitioned server access log folder's.
func accountOf(prefix string) string {
	if a := Account(prefix); a != "" {
		return a
	}
	if m := sourceAccount.FindStringSubmatch(prefix); m != nil {
		return m[1]
	}
	return ""
}

// errJump stops a listing to restart it further on.
var errJump = errors.New("restart the listing further on")

// beyond returns the smallest string above every key that starts with
// s+sep, for a listing to start after: sep ('/' or '-') raised by one
// ('0' or '.'). Only a key equal to it is passed over with them, and
// neither a folder's content nor a time-named object is named so.
func beyond(s string, sep byte) string { return s + string(sep+1) }

// levelSkipping lists the folders and objects directly below prefix, as
// ListLevel does, but steps over what it need not see one by one: it
// restarts the listing after each folder it meets and after each year of
// objects named by time, so it costs a request per folder and per year of
// names, however many objects a flat folder of server access logs holds.
// It reports whether objects named by time are there; they are not among
// objs.
func levelSkipping(ctx context.Context, l RangeLister, prefix string) (dirs []string, objs []source.Object, timeNamed bool, requests int, err error) {
	start := ""
	for {
		next, n := "", 0
		err = l.List(ctx, prefix, start, func(o source.Object) error {
			n++
			rest := o.Key[len(prefix):]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				dirs = append(dirs, prefix+rest[:i+1])
				next = beyond(prefix+rest[:i], '/')
				return errJump
			}
			if NamedByTime(rest) {
				timeNamed = true
				next = beyond(prefix+rest[:4], '-') // past the year's names
				return errJump
			}
			objs = append(objs, o)
			return nil
		})
		requests += 1 + n/1000
		if !errors.Is(err, errJump) {
			return dirs, objs, timeNamed, requests, err
		}
		start = next
	}
}

// ListNamedByTime lists a TimeNamed partition: the objects directly in
// its folder named by a time from from's UTC day through to's, in key
// order. It starts after the name of from's day (S3 names the objects by
// the time it delivers them, so the listing, like a dated folder's, does
// not grow with the folder's history), steps over sub-folders and stops
// at the first name past to's day. It returns the requests it made.
func (p Partition) ListNamedByTime(ctx context.Context, l RangeLister, from, to time.Time, fn func(source.Object) error) (int, error) {
	first, last := from.UTC().Format("2006-01-02"), to.UTC().Format("2006-01-02")
	start := p.Prefix + first // sorts just before the day's first name
	requests := 0
	for {
		next, n, done := "", 0, false
		err := l.List(ctx, p.Prefix, start, func(o source.Object) error {
			n++
			rest := o.Key[len(p.Prefix):]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				next = beyond(p.Prefix+rest[:i], '/')
				return errJump
			}
			if !NamedByTime(rest) {
				return nil
			}
			if rest[:10] > last {
				done = true
				return errJump
			}
			return fn(o)
		})
		requests += 1 + n/1000
		if !errors.Is(err, errJump) || done {
			if done {
				err = nil
			}
			return requests, err
		}
		start = next
	}
}
