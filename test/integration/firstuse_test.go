package integration

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestConnectorTestSamplesPastEmptyFiles: CloudTrail delivers
// {"Records":[]} when an account is quiet. Test reads the newest objects
// until one has records; when every sampled one is empty, it passes and
// says so.
func TestConnectorTestSamplesPastEmptyFiles(t *testing.T) {
	srv := s3server.Start(t)
	objs, _ := trailObjects(5, 2, 5)
	bucket(t, srv, "quiet", objs)
	day := time.Now().UTC().Format("2006/01/02")
	empty := func(name string) gen.Object {
		return gen.Object{Key: "AWSLogs/" + acct + "/CloudTrail/us-east-1/" + day + "/" + acct + "_CloudTrail_us-east-1_" + name + ".json.gz", Body: gz([]byte(`{"Records":[]}`))}
	}
	// S3 times are whole seconds: the empty objects must be newer.
	time.Sleep(1100 * time.Millisecond)
	srv.Fill(t, "quiet", []gen.Object{empty("z1"), empty("z2")})
	data := t.TempDir()
	addConnector(t, srv, data, "quiet", "quiet", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	r := trawl(t, data, nil, "connector", "test", "quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "Success") || !strings.Contains(r.stdout, "decoded as cloudtrail") {
		t.Fatalf("test with empty newest objects: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Only empty objects: readable, nothing to decode yet, and it says so.
	srv.Fill(t, "allquiet", []gen.Object{empty("a"), empty("b")})
	addConnector(t, srv, data, "allquiet", "allquiet", "AWSLogs/"+acct+"/CloudTrail", srv.SecretKey)
	r = trawl(t, data, nil, "connector", "test", "allquiet")
	if r.code != 0 || !strings.Contains(r.stdout, "Success") || !strings.Contains(r.stdout, "hold no records") {
		t.Fatalf("test with only empty objects: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
