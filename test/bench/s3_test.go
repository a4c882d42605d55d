package bench

import (
	"context"

	s3src "github.com/trawlhq/trawl/internal/source/s3"
	"github.com/trawlhq/trawl/internal/testutil/s3server"
)

func newS3(ctx context.Context, srv *s3server.Server, bucket string) (*s3src.Bucket, error) {
	return s3src.New(ctx, s3src.Config{Bucket: bucket, Endpoint: srv.Endpoint, PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
}
