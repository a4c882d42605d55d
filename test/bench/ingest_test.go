// Package bench measures end-to-end ingest: generated CloudTrail objects in
// a bucket folder, read through the same collector, decoder, normalizer and
// lake commits as S3, next to a plain gzip decompression of the same
// objects. Size with TRAWL_BENCH_MB (decompressed, default 200).
package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/gen"
)

type corpus struct {
	dir          string
	files        []string
	records      int
	decompressed int64
	compressed   int64
}

var (
	once sync.Once
	c    corpus
)

func build(b *testing.B) corpus {
	once.Do(func() {
		mb := 200
		if v, err := strconv.Atoi(os.Getenv("TRAWL_BENCH_MB")); err == nil && v > 0 {
			mb = v
		}
		dir, err := os.MkdirTemp("", "trawl-bench")
		if err != nil {
			b.Fatal(err)
		}
		c.dir = dir
		// ~1.4 KB per record, 4,000 records per object: ~5.6 MB per object.
		perObj := int64(4000 * 1400)
		objects := int(int64(mb)<<20/perObj) + 1
		accounts := []string{"111122223333", "444455556666"}
		objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 9, Accounts: accounts, Regions: []string{"us-east-1"},
			Start: time.Now().UTC().Add(-20 * time.Hour), Span: 19 * time.Hour, Objects: (objects + 1) / 2, RecordsPerObj: 4000, PadBytes: 700})
		for _, o := range objs {
			p := filepath.Join(dir, "bench-bucket", filepath.FromSlash(o.Key))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, o.Body, 0o644); err != nil {
				b.Fatal(err)
			}
			c.files = append(c.files, p)
			c.records += o.Records
			c.compressed += int64(len(o.Body))
			zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
			n, _ := io.Copy(io.Discard, zr)
			c.decompressed += n
		}
		fmt.Fprintf(os.Stderr, "bench corpus: %d objects, %d records, %.0f MB decompressed, %.0f MB gzip\n",
			len(objs), c.records, float64(c.decompressed)/1e6, float64(c.compressed)/1e6)
	})
	return c
}

// BenchmarkIngestCloudTrail: bucket folder to committed lake rows.
func BenchmarkIngestCloudTrail(b *testing.B) {
	c := build(b)
	b.SetBytes(c.decompressed)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		data := b.TempDir()
		ctx := context.Background()
		a, err := app.Open(ctx, app.Options{DataDir: data})
		if err != nil {
			b.Fatal(err)
		}
		sc := app.RootScope("bench")
		conn, err := a.CreateConnector(ctx, sc, connector.Connector{Name: "bench", Tenant: "bench", SubType: connector.CloudTrail,
			Bucket: "bench-bucket", Prefix: "AWSLogs", Endpoint: "file://" + c.dir, Start: time.Now().Add(-48 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := a.RunConnector(ctx, sc, conn.ID, collect.Options{})
		b.StopTimer()
		if err != nil || res.Failed() || res.Stats.Records != int64(c.records) {
			b.Fatalf("ingest: %v %+v", err, res)
		}
		a.Close()
		b.StartTimer()
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(c.records)/sec, "records/s")
}

// BenchmarkGunzipBaseline: plain decompression of the same objects, the
// floor against which ingest is compared.
func BenchmarkGunzipBaseline(b *testing.B) {
	c := build(b)
	b.SetBytes(c.decompressed)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range c.files {
			fh, err := os.Open(f)
			if err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(fh)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, zr)
			fh.Close()
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(c.records)/sec, "records/s")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
	os.Exit(code)
}
