package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/detect"
	"github.com/trawlhq/trawl/internal/format/cloudtrail"
	"github.com/trawlhq/trawl/internal/ingest"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/segment"
)

// corpus is the shared conformance corpus, beside the project root.
const corpus = "../../../shared/corpus"

// BenchmarkSigmaRulesOverCloudTrail: the hunting queries of the built-in
// CloudTrail rules and of SigmaHQ's CloudTrail rules (those Trawl
// compiles) over 40,000 real CloudTrail records (the Stratus Red Team
// captures, normalized as collection does, 0.9 to 5.4 KB): what
// detection costs per record, in CPU time (other work on the machine
// inflates wall time, not this).
func BenchmarkSigmaRulesOverCloudTrail(b *testing.B) {
	raws := stratusRecords(b)
	hunts := cloudTrailHunts(b)
	ctx := context.Background()
	l, err := OpenLake(ctx, filepath.Join(b.TempDir(), "trawl.db"), LakeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n, batch = 40000, 5000
	for start := 0; start < n; start += batch {
		var recs []*interflow.Record
		for i := start; i < start+batch; i++ {
			r := interflow.New(interflow.Events())
			raw := raws[i%len(raws)]
			if err := cloudtrail.Normalize([]byte(raw), r); err != nil {
				b.Fatal(err)
			}
			r.Stamp(interflow.Provenance{Tenant: "acme", Connector: "c", Bucket: "b", Key: "k", ETag: "e"}, int64(i), "cloudtrail", "paas")
			r.Set(interflow.FTimestamp, base.Add(time.Duration(i)*time.Second))
			r.Set(interflow.FRaw, raw)
			recs = append(recs, r)
		}
		st := ingest.ObjectState{Key: "k", Version: "e", Position: int64(start + batch), Done: start+batch == n}
		if err := l.Commit(ctx, ingest.RecordsBatch("c", st, recs...)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var matches int64
	cpu0 := processCPU()
	for range b.N {
		matches = 0
		for _, h := range hunts {
			c, err := l.Count(ctx, segment.SearchRequest{Query: h, From: base.Add(-time.Hour), To: base.Add(24 * time.Hour)})
			if err != nil {
				b.Fatalf("%s: %v", h, err)
			}
			matches += c
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/n, "cpu-ns/record")
	b.ReportMetric(float64(len(hunts)), "rules")
	b.ReportMetric(float64(matches), "matches")
}

// stratusRecords are the CloudTrail records of the Stratus Red Team
// captures in the shared corpus, as compact JSON.
func stratusRecords(b *testing.B) []string {
	files, _ := filepath.Glob(filepath.Join(corpus, "stratus-red-team/docs/detonation-logs/*.json"))
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var recs []json.RawMessage
		if json.Unmarshal(data, &recs) != nil {
			continue
		}
		for _, r := range recs {
			var v map[string]any
			if json.Unmarshal(r, &v) == nil && v["eventTime"] != nil {
				compact, _ := json.Marshal(v)
				out = append(out, string(compact))
			}
		}
	}
	if len(out) == 0 {
		b.Skip("no Stratus Red Team captures: the shared corpus is not beside the project")
	}
	return out
}

// cloudTrailHunts are the hunting queries of the built-in CloudTrail
// rules and of the SigmaHQ CloudTrail rules Trawl compiles.
func cloudTrailHunts(b *testing.B) []string {
	rules, err := detect.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(corpus, "sigmahq/rules/*.yml"))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if r, err := detect.Parse(src); err == nil {
			rules = append(rules, r)
		}
	}
	var hunts []string
	for _, r := range rules {
		if r.Logsource.Service == "cloudtrail" && r.Count == nil {
			hunts = append(hunts, r.Hunt())
		}
	}
	return hunts
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
