package audit

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/prefix"
	"github.com/trawlhq/trawl/internal/source"
)

// hourCheck is the audit of one digest, built up check by check.
type hourCheck struct {
	res    Result
	files  fileCheck
	broken []string // why the hour is unverifiable
	kind   string   // the reason kind of broken: a tampering one wins
	notes  []string // chain events worth saying on a verified hour
}

// fileCheck is a digest's listed files compared with the checkpoints.
type fileCheck struct {
	files            int
	missing, altered keyList
	noHash           int
}

// breaks records why the hour cannot be verified, and of which kind; the
// hour's kind is the first tampering one, else the first one.
func (h *hourCheck) breaks(kind, reason string) {
	h.broken = append(h.broken, reason)
	if h.kind == "" || (Tampered(kind) && !Tampered(h.kind)) {
		h.kind = kind
	}
}

func (h *hourCheck) result() Result {
	r := h.res
	r.Files = h.files.files
	r.Missing, r.MissingMore = h.files.missing.keys, h.files.missing.more
	r.Altered, r.AlteredMore = h.files.altered.keys, h.files.altered.more
	switch {
	case len(h.broken) > 0:
		r.Status = Unverifiable
	case len(r.Altered) > 0:
		r.Status = Altered
	case len(r.Missing) > 0:
		r.Status = Missing
	case h.files.noHash > 0:
		r.Status = Unverifiable
		were := "files were"
		if h.files.noHash == 1 {
			were = "file was"
		}
		h.breaks(NoHash, fmt.Sprintf("%d listed %s collected before Trawl kept their hashes: their content cannot be compared", h.files.noHash, were))
	default:
		r.Status = Verified
	}
	r.Kind = h.kind
	r.Reason = strings.Join(append(h.broken, h.notes...), "; ")
	return r
}

// slot is one account, region and hour.
type slot struct {
	account, region string
	hour            time.Time
}

// partitionAudit is one audit's state across its partitions.
type partitionAudit struct {
	c        *connector.Connector
	b        Bucket
	st       Store
	keys     Keys
	from, to time.Time
	opt      Options
	// collected are the checkpoints of the objects modified in the
	// period; listed, those of them some digest lists.
	collected map[string]ingest.ObjectState
	listed    map[string]bool
	// concluded are the hours whose stored result stands (their digest
	// was found over the limits before): no unlisted result replaces it.
	concluded map[slot]bool
}

// run checks each digest of one account and region whose hour lies in
// [from, to), and reports the hours of digests the chain names but the
// bucket no longer holds.
func (a *partitionAudit) run(ctx context.Context, p digestPartition, digests []digestObject) ([]Result, error) {
	c, b, keys, from, to := a.c, a.b, a.keys, a.from, a.to
	byKey := map[string]*digestObject{}
	successor := map[string]*digestObject{} // digest key -> the digest naming it as previous
	for i := range digests {
		do := &digests[i]
		byKey[do.key] = do
		if do.d != nil && do.d.PrevObject != nil {
			successor[*do.d.PrevObject] = do
		}
	}
	var out []Result
	seen := map[time.Time]bool{}
	for i := range digests {
		do := &digests[i]
		hour := hourOf(*do)
		if hour.Before(from) || !hour.Before(to) {
			continue
		}
		if do.skipped {
			seen[hour] = true
			a.concluded[slot{do.account, p.region, hour}] = true
			continue
		}
		h := &hourCheck{res: Result{ConnectorID: c.ID, Account: do.account, Region: p.region, Hour: hour, Digest: do.key}}
		var le *LimitError
		switch {
		case errors.As(do.err, &le):
			h.breaks(TooLarge, le.Error())
		case do.err != nil:
			h.breaks(Unreadable, fmt.Sprintf("digest %s cannot be read: %v", do.key, do.err))
		default:
			checkSignature(ctx, b, keys, p.region, do, successor[do.key], h)
			if gap := checkChain(ctx, b, do, byKey, h, a.opt.Limits); gap != "" {
				gh := keyTime(gap).Add(-time.Hour).Truncate(time.Hour)
				if !gh.Before(from) && gh.Before(to) && !seen[gh] {
					seen[gh] = true
					out = append(out, Result{ConnectorID: c.ID, Account: do.account, Region: p.region, Hour: gh, Status: Unverifiable,
						Kind: BrokenChain, Digest: gap, Reason: fmt.Sprintf("digest %s is missing: the chain has a gap here (the next digest names it; deleted, or never delivered)", gap)})
				}
			}
			if do.files != nil {
				h.files = *do.files
			}
			if i == len(digests)-1 && do.d.end.Add(2*time.Hour).Before(time.Now()) && to.After(do.d.end.Add(2*time.Hour)) {
				h.notes = append(h.notes, "no later digest: the chain stops here (logging or log file validation stopped?)")
			}
		}
		seen[hour] = true
		out = append(out, h.result())
	}
	return out, nil
}

// checkSignature verifies a digest's location and signature. The
// signature is the object's x-amz-meta-signature or, where a copy lost its
// metadata, the one the next digest records for it.
func checkSignature(ctx context.Context, b Bucket, keys Keys, region string, do *digestObject, next *digestObject, h *hourCheck) {
	d := do.d
	if d.Object != do.key {
		h.breaks(BadSignature, fmt.Sprintf("the digest names itself %s but lies at %s: moved or copied", d.Object, do.key))
		return
	}
	meta, err := b.Metadata(ctx, do.key)
	if err != nil {
		h.breaks(Unreadable, fmt.Sprintf("digest %s: reading its signature: %v", do.key, err))
		return
	}
	sig := meta["signature"]
	if sig == "" && next != nil && next.d != nil && next.d.PrevSignature != nil {
		sig = *next.d.PrevSignature
	}
	if sig == "" {
		h.breaks(NoSignature, fmt.Sprintf("digest %s: %v", do.key, errNoSignature))
		return
	}
	key, err := keys.PublicKey(ctx, region, d.Fingerprint, d.end)
	if err != nil {
		h.breaks(NoKey, fmt.Sprintf("digest %s: %v", do.key, err))
		return
	}
	if err := d.Verify(sig, key); err != nil {
		h.breaks(BadSignature, fmt.Sprintf("digest %s: %v", do.key, err))
	}
}

// checkChain checks the link to the previous digest: that it exists, that
// its content hashes to previousDigestHashValue and that its signature is
// previousDigestSignature. It returns the previous digest's key when the
// bucket does not hold it (a gap).
func checkChain(ctx context.Context, b Bucket, do *digestObject, byKey map[string]*digestObject, h *hourCheck, lim Limits) string {
	d := do.d
	if d.Starting() {
		h.notes = append(h.notes, "the chain starts here (log file validation was started or restarted)")
		return ""
	}
	if d.PrevObject == nil || d.PrevHash == nil {
		h.breaks(BrokenChain, "previousDigestS3Object or previousDigestHashValue is missing")
		return ""
	}
	prevKey := *d.PrevObject
	prev, ok := byKey[prevKey]
	if !ok {
		// Before the listed period: read it where the chain says it is.
		pd, err := fetchDigest(ctx, b, source.Object{Key: prevKey}, lim)
		var re *readError
		if errors.As(err, &re) {
			// Reported on the missing digest's own hour; this digest's
			// signature and files stand on their own.
			h.notes = append(h.notes, fmt.Sprintf("the previous digest %s is missing: the chain has a gap before this hour", prevKey))
			return prevKey
		}
		prev = &digestObject{key: prevKey, d: pd, err: err}
	}
	if prev.err != nil {
		h.breaks(Unreadable, fmt.Sprintf("the previous digest %s cannot be read: %v", prevKey, prev.err))
		return ""
	}
	if !strings.EqualFold(prev.d.SHA256(), *d.PrevHash) {
		h.breaks(BrokenChain, fmt.Sprintf("chain broken: the previous digest %s does not hash to previousDigestHashValue (it was altered)", prevKey))
	}
	// The previous digest's signature is checked on its own hour (an RSA
	// PKCS #1 v1.5 signature is unique, so a valid one equals
	// previousDigestSignature).
	return ""
}

// checkFiles compares the listed log files with the checkpoints.
func checkFiles(ctx context.Context, c *connector.Connector, st Store, d *Digest) (*fileCheck, error) {
	h := &fileCheck{files: len(d.LogFiles)}
	const page = 1000
	for start := 0; start < len(d.LogFiles); start += page {
		part := d.LogFiles[start:min(start+page, len(d.LogFiles))]
		keys := make([]string, len(part))
		for i, lf := range part {
			keys[i] = lf.Key
		}
		states, err := st.ObjectStatesOf(ctx, c.ID, keys)
		if err != nil {
			return nil, err
		}
		for _, lf := range part {
			s, ok := states[lf.Key]
			switch {
			case !ok || !s.Done:
				h.missing.add(lf.Key)
			case s.SHA256 == "":
				h.noHash++
			case !strings.EqualFold(s.SHA256, lf.HashValue):
				h.altered.add(lf.Key)
			}
		}
	}
	return h, nil
}

var logKeyRe = regexp.MustCompile(`(?:^|/)(\d{12})/CloudTrail/([a-z0-9-]+)/`)

// logTimeRe finds the time in a log file's name (_20240501T1005Z_).
var logTimeRe = regexp.MustCompile(`_(\d{8}T\d{4}Z)_`)

func logTime(key string) (time.Time, bool) {
	m := logTimeRe.FindStringSubmatch(key)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T1504Z", m[1])
	return t, err == nil
}

// unlisted reports collected log files that no digest lists: on the hour
// of a digest's result they are added to it; an hour without a digest is
// unlisted while its digest may still come, unverifiable after.
func unlisted(ctx context.Context, a *partitionAudit, results []Result) ([]Result, error) {
	c, listed, from := a.c, a.listed, a.from
	groups := map[slot][]string{}
	for key, s := range a.collected {
		m := logKeyRe.FindStringSubmatch(key)
		if m == nil || !s.Done || listed[key] {
			continue
		}
		// A file AWS wrote before the audited period (its name's time) is
		// not this period's to list: it was delivered late, and the digest
		// that lists it is one the audit reads only for the chain.
		if kt, ok := logTime(key); ok && kt.Before(from) {
			continue
		}
		sl := slot{m[1], m[2], s.LastModified.UTC().Truncate(time.Hour)}
		if a.concluded[sl] {
			continue
		}
		groups[sl] = append(groups[sl], key)
	}
	index := map[slot]int{}
	for i, r := range results {
		index[slot{r.Account, r.Region, r.Hour}] = i
	}
	var out []Result
	for sl, keys := range groups {
		sort.Strings(keys)
		var kl keyList
		for _, k := range keys {
			kl.add(k)
		}
		late := sl.hour.Add(3 * time.Hour).Before(time.Now())
		if i, ok := index[sl]; ok {
			// The hour's digest verified, but it holds files no digest
			// vouches for: not verified (that would say every file of the
			// hour is AWS's), unlisted until a digest may still list them.
			r := &results[i]
			r.Unlisted, r.UnlistedMore = kl.keys, kl.more
			if r.Status == Verified {
				status, why := Unlisted, " delivered in this hour in no digest yet (the next hour's digest may list them)"
				if late {
					status, why = Unverifiable, " delivered in this hour in no digest: CloudTrail has not vouched for them, so check who wrote them"
					r.Kind = NoDigest
				}
				r.Status, r.Reason = status, joinReasons(r.Reason, filesNoun(len(keys))+why)
			}
			continue
		}
		r := Result{ConnectorID: c.ID, Account: sl.account, Region: sl.region, Hour: sl.hour, Unlisted: kl.keys, UnlistedMore: kl.more, Status: Unlisted,
			Reason: "no digest lists these files yet (CloudTrail delivers an hour's digest within the next hour)"}
		if late {
			r.Status, r.Kind = Unverifiable, NoDigest
			r.Reason = "no digest lists these files: is log file validation on for this trail, and are its digests under " + prefix.DigestPrefix(c.Prefix) + "?"
		}
		out = append(out, r)
	}
	return out, nil
}

// filesNoun counts log files in words: "1 collected file", "3 collected files".
func filesNoun(n int) string {
	if n == 1 {
		return "1 collected file"
	}
	return fmt.Sprintf("%d collected files", n)
}

func joinReasons(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
