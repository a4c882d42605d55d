package audit

import (
	"compress/gzip"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/lake"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/source"
)

// Statuses of an audited hour.
const (
	Verified     = "verified"     // every listed file collected, hashes equal
	Missing      = "missing"      // files the digest lists that Trawl has not collected
	Altered      = "altered"      // a collected file's hash differs from the digest's
	Unlisted     = "unlisted"     // collected files no digest lists (normal for the newest hour)
	Unverifiable = "unverifiable" // no digest, or its signature or chain is broken
)

// Kinds of reason an hour is unverifiable, for programs (the reason's
// text is for people): BadSignature and BrokenChain are evidence of
// tampering, the others of a gap in what the audit could check.
const (
	BadSignature = "bad_signature" // the signature does not verify, or the digest was moved
	BrokenChain  = "broken_chain"  // a digest the chain names is missing or altered
	NoDigest     = "no_digest"     // no digest lists the files (log file validation off?)
	NoSignature  = "no_signature"  // the digest carries no signature to check
	NoKey        = "no_key"        // the public key of the signature is not known
	Unreadable   = "unreadable"    // a digest could not be read or parsed
	NoHash       = "no_hash"       // files collected before Trawl kept their hashes
)

// Tampered reports whether a reason kind is evidence that a digest was
// tampered with (a bad signature or a broken chain), as opposed to one the
// audit could not check.
func Tampered(kind string) bool { return kind == BadSignature || kind == BrokenChain }

// Bucket is what the audit reads digests from.
type Bucket interface {
	prefix.Lister
	List(ctx context.Context, prefix, startAfter string, fn func(source.Object) error) error
	Open(ctx context.Context, obj source.Object) (io.ReadCloser, error)
	Metadata(ctx context.Context, key string) (map[string]string, error)
}

// Store holds the collected objects' checkpoints.
type Store interface {
	ObjectStatesOf(ctx context.Context, connectorID string, keys []string) (map[string]lake.ObjectState, error)
	ObjectsModified(ctx context.Context, connectorID string, from, to time.Time) (map[string]lake.ObjectState, error)
}

// Keys finds the public key of a fingerprint (CloudTrail's keys are per
// region).
type Keys interface {
	PublicKey(ctx context.Context, region, fingerprint string, at time.Time) (*rsa.PublicKey, error)
}

// PublicKey makes a KeySet a Keys.
func (ks KeySet) PublicKey(_ context.Context, _, fingerprint string, _ time.Time) (*rsa.PublicKey, error) {
	if k, ok := ks[strings.ToLower(fingerprint)]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("no public key with fingerprint %s: give the keys with --public-keys (aws cloudtrail list-public-keys) or allow cloudtrail:ListPublicKeys", fingerprint)
}

// maxDigestBytes bounds a digest's uncompressed size: a digest lists an
// hour of files, a few hundred KB at most.
const maxDigestBytes = 64 << 20

// digestObject is one digest found in the bucket.
type digestObject struct {
	key     string
	account string
	region  string
	d       *Digest
	err     error // why it could not be read
}

// Run audits a CloudTrail connector's hours in [from, to): it finds the
// digest folders beside the connector's log folders, reads each digest of
// the period (and the one before it, for the chain), and returns a result
// per account, region and hour.
func Run(ctx context.Context, c *connector.Connector, b Bucket, st Store, keys Keys, from, to time.Time) ([]lake.AuditResult, error) {
	if c.SubType != connector.CloudTrail {
		return nil, fmt.Errorf("connector %s: only CloudTrail has digests", c.Name)
	}
	from, to = from.UTC().Truncate(time.Hour), to.UTC()
	if !c.Start.IsZero() {
		// Files delivered before the connector's start are not collected:
		// its first whole hour is the first one audited.
		if first := c.Start.UTC().Add(time.Hour - time.Nanosecond).Truncate(time.Hour); from.Before(first) {
			from = first
		}
	}
	parts, err := digestPartitions(ctx, c, b)
	if err != nil {
		return nil, err
	}
	var out []lake.AuditResult
	listed := map[string]bool{}
	for _, p := range parts {
		digests, err := readDigests(ctx, b, p, from.Add(-time.Hour), to.Add(2*time.Hour))
		if err != nil {
			return nil, err
		}
		rs, err := auditPartition(ctx, c, b, st, keys, p, digests, from, to, listed)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	un, err := unlisted(ctx, c, st, listed, from, to, out)
	if err != nil {
		return nil, err
	}
	out = append(out, un...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Hour.Equal(b.Hour) {
			return a.Hour.Before(b.Hour)
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		return a.Region < b.Region
	})
	return out, nil
}

// digestPartition is one account and region's digest folder.
type digestPartition struct {
	prefix.Partition
	region string
}

// DigestPrefix is where a CloudTrail prefix's digests are:
// AWSLogs/…/CloudTrail… becomes AWSLogs/…/CloudTrail-Digest…; a prefix
// above the service folders (an organization's, or an account's) stays.
func DigestPrefix(p string) string {
	if i := strings.Index(p, "/CloudTrail/"); i >= 0 {
		return p[:i] + "/CloudTrail-Digest/" + p[i+len("/CloudTrail/"):]
	}
	if strings.HasSuffix(p, "/CloudTrail") {
		return p + "-Digest"
	}
	return p
}

func digestPartitions(ctx context.Context, c *connector.Connector, b Bucket) ([]digestPartition, error) {
	t, err := prefix.Parse(DigestPrefix(c.Prefix), prefix.Options{AllowWildcard: true})
	if err != nil {
		return nil, fmt.Errorf("connector %s: digest prefix: %w", c.Name, err)
	}
	disc, err := prefix.Discover(ctx, b, t, func(dir string) bool { return strings.TrimSuffix(dir, "/") == "CloudTrail-Digest" }, c.Regions)
	if err != nil {
		return nil, fmt.Errorf("connector %s: finding digest folders: %w", c.Name, err)
	}
	var out []digestPartition
	for _, p := range disc.Partitions {
		if p.Kind != prefix.Dated {
			continue
		}
		segs := strings.Split(strings.TrimSuffix(p.Prefix, "/"), "/")
		if len(segs) < 2 || segs[len(segs)-2] != "CloudTrail-Digest" {
			continue
		}
		out = append(out, digestPartition{Partition: p, region: segs[len(segs)-1]})
	}
	return out, nil
}

// readDigests lists and reads a partition's digests delivered in [from, to].
func readDigests(ctx context.Context, b Bucket, p digestPartition, from, to time.Time) ([]digestObject, error) {
	var out []digestObject
	for _, pre := range p.Prefixes(from, to) {
		err := b.List(ctx, pre, "", func(o source.Object) error {
			if !strings.HasSuffix(o.Key, ".json.gz") {
				return nil
			}
			out = append(out, readDigest(ctx, b, o, p))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list digests %s: %w", pre, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return digestEnd(out[i]).Before(digestEnd(out[j])) })
	return out, nil
}

// digestEnd is a digest's end time, from its content or else its key.
func digestEnd(o digestObject) time.Time {
	if o.d != nil {
		return o.d.end
	}
	return keyTime(o.key)
}

var keyTimeRe = regexp.MustCompile(`_(\d{8}T\d{6}Z)\.json\.gz$`)

// keyTime is the end time a digest's key carries.
func keyTime(key string) time.Time {
	m := keyTimeRe.FindStringSubmatch(key)
	if m == nil {
		return time.Time{}
	}
	t, _ := time.Parse("20060102T150405Z", m[1])
	return t
}

func readDigest(ctx context.Context, b Bucket, o source.Object, p digestPartition) digestObject {
	do := digestObject{key: o.Key, account: p.Account, region: p.region}
	do.d, do.err = fetchDigest(ctx, b, o)
	if do.d != nil && do.account == "" {
		do.account = do.d.AccountID
	}
	return do
}

// readError is a failure to read a digest object (missing, not gzip,
// broken, too large), as against one to decode what was read.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// fetchDigest streams a digest object: gunzipped, bounded, hashed and
// decoded as it arrives.
func fetchDigest(ctx context.Context, b Bucket, o source.Object) (*Digest, error) {
	rc, err := b.Open(ctx, o)
	if err != nil {
		return nil, &readError{err}
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, &readError{fmt.Errorf("not gzip: %w", err)}
	}
	in := &watchedReader{r: io.LimitReader(zr, maxDigestBytes+1)}
	d, err := DecodeDigest(in)
	switch {
	case in.err != nil:
		return nil, &readError{fmt.Errorf("gunzip: %w", in.err)}
	case in.n > maxDigestBytes:
		return nil, &readError{fmt.Errorf("larger than %d MB uncompressed: not a digest", maxDigestBytes>>20)}
	}
	return d, err
}

// watchedReader counts what it reads and keeps its read error, which a
// decoder would report as its own.
type watchedReader struct {
	r   io.Reader
	n   int64
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		w.err = err
	}
	return n, err
}

// hourOf is the hour a digest reports on: the hour its period starts in.
func hourOf(o digestObject) time.Time {
	if o.d != nil {
		return o.d.start.UTC().Truncate(time.Hour)
	}
	return keyTime(o.key).Add(-time.Hour).Truncate(time.Hour)
}

var errNoSignature = errors.New("no signature: the object has no x-amz-meta-signature and no later digest names it")
