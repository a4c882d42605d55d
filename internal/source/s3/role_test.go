package s3_test

import (
	"context"
	"testing"
	"time"

	"github.com/trawlhq/trawl/internal/gen"
	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
	"github.com/trawlhq/trawl/internal/testutil/stsserver"
)

// TestRoleSessionRefreshedBeforeExpiry: session credentials are reused
// while they have more than five minutes left, and assumed again when
// they are within five minutes of expiring, never used up to the end.
func TestRoleSessionRefreshedBeforeExpiry(t *testing.T) {
	srv := s3server.Start(t)
	ctx := context.Background()
	srv.CreateUserRole(ctx, t, "sessionkey02", "sessionsecret0002", "userplus")
	objs := gen.CloudTrail(gen.CloudTrailSpec{Seed: 3, Accounts: []string{"123456789012"}, Regions: []string{"us-east-1"},
		Start: time.Now().Add(-time.Hour), Span: time.Minute, Objects: 1, RecordsPerObj: 2})
	srv.FillAs(t, "sessionkey02", "sessionsecret0002", "refresh", objs)
	for _, c := range []struct {
		life    time.Duration
		calls   int
		assumes int
	}{{time.Hour, 3, 1}, {4 * time.Minute, 3, 3}} {
		sts := stsserver.Start(t, stsserver.Role{ARN: "arn:aws:iam::123456789012:role/R", ExternalID: "ext-1", SourceAccess: "AKIASOURCE0000000001",
			SourceSecret: "src", SessionAccess: "sessionkey02", SessionSecret: "sessionsecret0002", Duration: c.life})
		b, err := s3src.New(ctx, s3src.Config{Bucket: "refresh", Endpoint: srv.Endpoint, PathStyle: true, AccessKeyID: "AKIASOURCE0000000001",
			SecretAccessKey: "src", RoleARN: "arn:aws:iam::123456789012:role/R", ExternalID: "ext-1", SessionName: "trawl-r", STSEndpoint: sts.URL})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < c.calls; i++ {
			if _, err := b.FirstPage(ctx, "AWSLogs/", 1); err != nil {
				t.Fatalf("session of %v, call %d: %v", c.life, i, err)
			}
		}
		if got := len(sts.Requests()); got != c.assumes {
			t.Errorf("session of %v: %d AssumeRole calls for %d requests, want %d", c.life, got, c.calls, c.assumes)
		}
	}
}
