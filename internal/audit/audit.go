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
	"github.com/trawlhq/trawl/internal/ingest"
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
	TooLarge     = "over_limit"    // a digest over the audit's size or file-count limits
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
	ObjectStatesOf(ctx context.Context, connectorID string, keys []string) (map[string]ingest.ObjectState, error)
	ObjectsModified(ctx context.Context, connectorID string, from, to time.Time) (map[string]ingest.ObjectState, error)
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

// Default limits of one digest. A digest lists an hour of one account and
// region's log files, about 300 bytes each: a busy account's is a few
// thousand files, a few hundred KB gzipped. A tenant's bucket can hold
// anything under the digest folders, so a digest beyond a limit is not
// read further and its hour is unverifiable, naming the limit.
const (
	DefaultMaxSize         = 8 << 20  // compressed bytes
	DefaultMaxDecompressed = 16 << 20 // uncompressed bytes
	DefaultMaxFiles        = 20000    // log files listed
	// MaxKeys bounds each key list of a result (missing, altered,
	// unlisted); the rest are counted.
	MaxKeys = 100
)

// Limits bound the work and memory one digest can cause (zero fields take
// the defaults); the operator sets them with --digest-max-size,
// --digest-max-decompressed and --digest-max-files.
type Limits struct {
	MaxSize         int64
	MaxDecompressed int64
	MaxFiles        int
}

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDecompressed <= 0 {
		l.MaxDecompressed = DefaultMaxDecompressed
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	return l
}

// Options are a run's limits and the digests it does not read again.
type Options struct {
	Limits Limits
	// Concluded holds the keys of digests an earlier audit found over the
	// limits (see OverLimit): CloudTrail never rewrites a digest, so they
	// are not read again, and their hours keep their stored results.
	Concluded map[string]bool
}

// overLimit is in the reason of every result a digest over the limits
// decided: the digest's own hour, and the next one, whose chain link it
// breaks.
const overLimit = "is over the audit's limits"

// LimitError is a digest over one of the limits.
type LimitError struct {
	Key  string
	What string // which limit, with its value and flag
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("digest %s %s: %s; it was not read further (raise the limit and run trawl audit to check it)", e.Key, overLimit, e.What)
}

// Result is the audit's verdict on one hour of one account and region of
// a connector, as the catalog stores it.
type Result struct {
	ConnectorID string
	Account     string
	Region      string
	Hour        time.Time
	Status      string
	Files       int // log files the digest lists
	Missing     []string
	Altered     []string
	Unlisted    []string
	Reason      string
	Kind        string // the reason's kind (BadSignature, ...), for programs
	Digest      string // the digest object's key
	UpdatedAt   time.Time

	// MissingMore, AlteredMore and UnlistedMore count the keys beyond the
	// lists (the audit keeps at most a hundred of each).
	MissingMore, AlteredMore, UnlistedMore int
}

// OverLimit reports whether a stored result was decided by its own digest
// being over the limits (its hour needs no new audit until an operator
// raises them and runs trawl audit).
func OverLimit(r Result) bool {
	return r.Digest != "" && strings.HasPrefix(r.Reason, "digest "+r.Digest+" "+overLimit)
}

// Concluded reports whether a stored unverifiable result stays so until
// the limits change: its digest, or the previous one its chain link
// needs, is over them.
func Concluded(r Result) bool {
	return r.Status == Unverifiable && strings.Contains(r.Reason, overLimit)
}

// keyList keeps at most MaxKeys keys and counts the rest.
type keyList struct {
	keys []string
	more int
}

func (k *keyList) add(key string) {
	if len(k.keys) < MaxKeys {
		k.keys = append(k.keys, key)
		return
	}
	k.more++
}

// digestObject is one digest found in the bucket.
type digestObject struct {
	key     string
	account string
	region  string
	d       *Digest
	err     error // why it could not be read
	skipped bool  // concluded over the limits by an earlier audit: not read
	// files is the comparison of the listed files with the checkpoints,
	// made as the digest was read (for the audited hours' digests).
	files *fileCheck
}

// Run audits a CloudTrail connector's hours in [from, to): it finds the
// digest folders beside the connector's log folders, reads each digest of
// the period (and the one before it, for the chain), and returns a result
// per account, region and hour.
func Run(ctx context.Context, c *connector.Connector, b Bucket, st Store, keys Keys, from, to time.Time, opt Options) ([]Result, error) {
	opt.Limits = opt.Limits.withDefaults()
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
	collected, err := st.ObjectsModified(ctx, c.ID, from, to)
	if err != nil {
		return nil, err
	}
	var out []Result
	a := &partitionAudit{c: c, b: b, st: st, keys: keys, from: from, to: to, opt: opt, collected: collected, listed: map[string]bool{}, concluded: map[slot]bool{}}
	for _, p := range parts {
		digests, err := a.readDigests(ctx, p, from.Add(-time.Hour), to.Add(2*time.Hour))
		if err != nil {
			return nil, err
		}
		rs, err := a.run(ctx, p, digests)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	un, err := unlisted(ctx, a, out)
	if err != nil {
		return nil, err
	}
	out = append(out, un...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Hour.Equal(b.Hour) {
			return a.Hour.Before(b.Hour)
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		// Several results of one hour (several trails' digests): the
		// last is stored, so an unverifiable one is not hidden by another.
		return a.Status != Unverifiable && b.Status == Unverifiable
	})
	return out, nil
}

// digestPartition is one account and region's digest folder.
type digestPartition struct {
	prefix.Partition
	region string
}

func digestPartitions(ctx context.Context, c *connector.Connector, b Bucket) ([]digestPartition, error) {
	t, err := prefix.Parse(prefix.DigestPrefix(c.Prefix), prefix.Options{AllowWildcard: true})
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

// MaxDigestsPerHour bounds the digests of one account, region and hour
// that an audit reads: one per trail delivering there (a few at most).
// An hour with more (a bucket's own doing) has none of them read, and is
// unverifiable.
const MaxDigestsPerHour = 4

// readDigests lists and reads a partition's digests delivered in [from,
// to]: those whose key (CloudTrail names each by its end time) ends in
// the period. Other objects of the day folders are not read.
func (a *partitionAudit) readDigests(ctx context.Context, p digestPartition, from, to time.Time) ([]digestObject, error) {
	// First the listing, keeping at most one object more than an hour may
	// have (and the count), then the reading.
	byHour := map[time.Time][]source.Object{}
	count := map[time.Time]int{}
	for _, pre := range p.Prefixes(from, to) {
		err := a.b.List(ctx, pre, "", func(o source.Object) error {
			end := keyTime(o.Key)
			if !strings.HasSuffix(o.Key, ".json.gz") || end.IsZero() || end.Before(from) || end.After(to) {
				return nil
			}
			h := end.Truncate(time.Hour)
			if count[h]++; count[h] <= MaxDigestsPerHour+1 {
				byHour[h] = append(byHour[h], o)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list digests %s: %w", pre, err)
		}
	}
	var out []digestObject
	for h, objs := range byHour {
		if count[h] > MaxDigestsPerHour {
			out = append(out, digestObject{key: objs[0].Key, account: p.Account, region: p.region,
				err: &LimitError{Key: objs[0].Key, What: fmt.Sprintf("it is one of %d digests that end in the hour of %s in this account and region, more than %d (one per trail is expected): none of them was read",
					count[h], h.Format(time.RFC3339), MaxDigestsPerHour)}})
			continue
		}
		for _, o := range objs {
			if a.opt.Concluded[o.Key] {
				out = append(out, digestObject{key: o.Key, account: p.Account, region: p.region, skipped: true,
					err: &LimitError{Key: o.Key, What: "found so by an earlier audit"}})
				continue
			}
			do, err := a.readDigest(ctx, o, p)
			if err != nil {
				return nil, err
			}
			out = append(out, do)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if ei, ej := digestEnd(out[i]), digestEnd(out[j]); !ei.Equal(ej) {
			return ei.Before(ej)
		}
		return out[i].key < out[j].key
	})
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

// readDigest reads one digest and takes at once what the audit needs of
// its log files: which collected ones it lists, and, for an audited hour,
// their comparison with the checkpoints. The list is then dropped, so one
// digest's files at most are held, however many digests the period has.
func (a *partitionAudit) readDigest(ctx context.Context, o source.Object, p digestPartition) (digestObject, error) {
	do := digestObject{key: o.Key, account: p.Account, region: p.region}
	do.d, do.err = fetchDigest(ctx, a.b, o, a.opt.Limits)
	if do.d == nil {
		return do, nil
	}
	if do.account == "" {
		do.account = do.d.AccountID
	}
	for _, lf := range do.d.LogFiles {
		if _, ok := a.collected[lf.Key]; ok {
			a.listed[lf.Key] = true
		}
	}
	if h := hourOf(do); !h.Before(a.from) && h.Before(a.to) {
		fc, err := checkFiles(ctx, a.c, a.st, do.d)
		if err != nil {
			return do, fmt.Errorf("digest %s: %w", do.key, err)
		}
		do.files = fc
	}
	do.d.LogFiles = nil
	return do, nil
}

// readError is a failure to read a digest object (missing, not gzip,
// broken, too large), as against one to decode what was read.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// fetchDigest streams a digest object: gunzipped, bounded, hashed and
// decoded as it arrives. Past a limit it stops reading with a LimitError;
// the size the listing gave is checked before anything is read.
func fetchDigest(ctx context.Context, b Bucket, o source.Object, lim Limits) (*Digest, error) {
	sizeErr := &LimitError{Key: o.Key, What: fmt.Sprintf("it is larger than %d bytes compressed (--digest-max-size)", lim.MaxSize)}
	if o.Size > lim.MaxSize {
		return nil, sizeErr
	}
	rc, err := b.Open(ctx, o)
	if err != nil {
		return nil, &readError{err}
	}
	defer rc.Close()
	// The listing's size may be missing (a digest the chain names) or
	// stale: the compressed bytes are counted too.
	raw := &watchedReader{r: io.LimitReader(rc, lim.MaxSize+1)}
	zr, err := gzip.NewReader(raw)
	if err != nil {
		return nil, &readError{fmt.Errorf("not gzip: %w", err)}
	}
	in := &watchedReader{r: io.LimitReader(zr, lim.MaxDecompressed+1)}
	d, err := decodeDigest(in, lim.MaxFiles)
	switch {
	case raw.n > lim.MaxSize:
		return nil, sizeErr
	case in.n > lim.MaxDecompressed:
		return nil, &LimitError{Key: o.Key, What: fmt.Sprintf("it is larger than %d bytes uncompressed (--digest-max-decompressed)", lim.MaxDecompressed)}
	case errors.Is(err, errTooManyFiles):
		return nil, &LimitError{Key: o.Key, What: fmt.Sprintf("it lists more than %d log files (--digest-max-files)", lim.MaxFiles)}
	case in.err != nil:
		return nil, &readError{fmt.Errorf("gunzip: %w", in.err)}
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
