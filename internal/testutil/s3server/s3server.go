// Package s3server starts versitygw, a real S3-compatible server that checks
// SigV4, on a loopback port for integration tests, and reads its request log
// so tests can count the requests Trawl made.
package s3server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/modroot"
)

// Server is a running versitygw.
type Server struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Dir       string // posix backend root: Dir/<bucket>/<key>
	AdminURL  string
	cmd       *exec.Cmd
	mu        sync.Mutex
	log       []string
	sentinels int
}

// Binary finds versitygw: $TRAWL_VERSITYGW, .tools/bin under the module
// root, or PATH. Without it the test skips, except under CI where a missing
// server is a failure (the test script installs it).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TRAWL_VERSITYGW"); p != "" {
		return p
	}
	if root := modroot.Root(); root != "" {
		p := filepath.Join(root, ".tools", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	modroot.Missing(t, "versitygw not installed: run scripts/install-versitygw.sh (make test does)")
	return ""
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a server with a root user; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{AccessKey: "TRAWLROOTACCESSKEY01", SecretKey: "trawl-root-secret-key-for-tests-only", Dir: t.TempDir()}
	iam := t.TempDir()
	port, aport := freePort(t), freePort(t)
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", aport)
	s.cmd = exec.Command(bin, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--admin-port", fmt.Sprintf("127.0.0.1:%d", aport),
		"--iam-dir", iam, "posix", s.Dir)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	go s.readLog(out)
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint)
		if err == nil {
			resp.Body.Close()
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("versitygw did not start on %s; log:\n%s", s.Endpoint, strings.Join(s.Log(), "\n"))
	return nil
}

func (s *Server) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		s.mu.Lock()
		s.log = append(s.log, sc.Text())
		s.mu.Unlock()
	}
}

// Pid is the server's process ID: a benchmark reads its CPU time in /proc
// to say how much of the machine the S3 side of a test took.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Log returns the request log lines so far.
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// settle waits until every request answered so far is in the log: the
// server writes its log line after the response, so a count taken the
// moment a client returns can miss its last requests. A request with a
// unique query marks the point; its line follows all earlier ones.
func (s *Server) settle() {
	s.mu.Lock()
	s.sentinels++
	mark := fmt.Sprintf("trawl-log-sentinel=%d", s.sentinels)
	s.mu.Unlock()
	if resp, err := http.Get(s.Endpoint + "/?" + mark); err == nil {
		resp.Body.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.log)
		found := false
		for i := n - 1; i >= 0 && i >= n-1000; i-- {
			if strings.Contains(s.log[i], mark) {
				found = true
				break
			}
		}
		s.mu.Unlock()
		if found {
			return
		}
	}
}

// CountRequests counts log lines containing every given substring, once
// every request answered before the call is in the log.
func (s *Server) CountRequests(subs ...string) int {
	s.settle()
	n := 0
	for _, l := range s.Log() {
		ok := true
		for _, sub := range subs {
			if !strings.Contains(l, sub) {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}

// CreateUser adds a limited user (role "user"): it cannot list buckets it
// does not own.
func (s *Server) CreateUser(ctx context.Context, t testing.TB, access, secret string) {
	s.CreateUserRole(ctx, t, access, secret, "user")
}

// CreateUserRole adds a user with a role: "user", or "userplus", which may
// create buckets of its own.
func (s *Server) CreateUserRole(ctx context.Context, t testing.TB, access, secret, role string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, Binary(t), "admin", "--access", s.AccessKey, "--secret", s.SecretKey,
		"--endpoint-url", s.AdminURL, "create-user", "--access", access, "--secret", secret, "--role", role)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create user: %v\n%s", err, out)
	}
}

// DeleteUser removes a user (its key stops working at once).
func (s *Server) DeleteUser(ctx context.Context, t testing.TB, access string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, Binary(t), "admin", "--access", s.AccessKey, "--secret", s.SecretKey,
		"--endpoint-url", s.AdminURL, "delete-user", "--access", access)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("delete user: %v\n%s", err, out)
	}
}

// SetBucketPolicy installs a bucket policy as the root user ("" deletes it).
func (s *Server) SetBucketPolicy(t testing.TB, bucket, policy string) {
	t.Helper()
	ctx := context.Background()
	b, err := s3src.New(ctx, s3src.Config{Bucket: bucket, Endpoint: s.Endpoint, PathStyle: true, AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutBucketPolicy(ctx, policy); err != nil {
		t.Fatalf("%v\n%s", err, policy)
	}
}

// Fill creates a bucket as the root user and uploads objects to it through
// the AWS SDK (a real client, as production data would arrive).
func (s *Server) Fill(t testing.TB, bucket string, objs []gen.Object) {
	t.Helper()
	s.FillAs(t, s.AccessKey, s.SecretKey, bucket, objs)
}

// FillAs creates a bucket owned by the user with these keys and uploads
// objects to it.
func (s *Server) FillAs(t testing.TB, access, secret, bucket string, objs []gen.Object) {
	t.Helper()
	ctx := context.Background()
	b, err := s3src.New(ctx, s3src.Config{Bucket: bucket, Endpoint: s.Endpoint, PathStyle: true, AccessKeyID: access, SecretAccessKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := b.PutWithMetadata(ctx, o.Key, bytes.NewReader(o.Body), int64(len(o.Body)), o.Meta); err != nil {
			t.Fatalf("upload %s: %v", o.Key, err)
		}
	}
}
