package s3

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trawlhq/trawl/internal/netguard"
)

// LakeConfig says where a lake's segments are kept: an s3://BUCKET/PREFIX
// location, with an endpoint for S3-compatible stores. The credentials are
// the operator's, from the standard AWS chain (environment, profile,
// instance role): the lake is the server's, not a tenant's.
type LakeConfig struct {
	Location  string
	Endpoint  string
	PathStyle bool
	Region    string
	Guard     netguard.Policy
}

// LakeStore keeps a lake's segments in a bucket (the lake's Store).
type LakeStore struct {
	b      *Bucket
	prefix string // "" or ending in "/"
	loc    string
}

// NewLakeStore connects to the lake's bucket. It does not make a request.
func NewLakeStore(ctx context.Context, cfg LakeConfig) (*LakeStore, error) {
	u, err := url.Parse(cfg.Location)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("lake location %q: give s3://BUCKET/PREFIX", cfg.Location)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	b, err := New(ctx, Config{Bucket: u.Host, Region: cfg.Region, Endpoint: cfg.Endpoint, PathStyle: cfg.PathStyle, Guard: cfg.Guard})
	if err != nil {
		return nil, err
	}
	return &LakeStore{b: b, prefix: prefix, loc: "s3://" + u.Host + "/" + strings.TrimSuffix(prefix, "/")}, nil
}

// Location is the store's s3:// location.
func (s *LakeStore) Location() string { return s.loc }

// Put uploads a file as key (one PUT: the object appears whole or not).
func (s *LakeStore) Put(ctx context.Context, key, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	return s.b.Put(ctx, s.prefix+key, f, info.Size())
}

// Get downloads key into file, through a temporary name renamed once
// whole and synced.
func (s *LakeStore) Get(ctx context.Context, key, file string) error {
	out, err := s.b.client.GetObject(ctx, &s3sdk.GetObjectInput{Bucket: aws.String(s.b.cfg.Bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		return Classify(err, "get", s.b.cfg.Bucket+"/"+s.prefix+key)
	}
	defer out.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(file), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, out.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("get %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// Delete deletes keys (a missing key is not an error).
func (s *LakeStore) Delete(ctx context.Context, keys []string) error {
	for _, k := range keys {
		_, err := s.b.client.DeleteObject(ctx, &s3sdk.DeleteObjectInput{Bucket: aws.String(s.b.cfg.Bucket), Key: aws.String(s.prefix + k)})
		if err != nil {
			return Classify(err, "delete", s.b.cfg.Bucket+"/"+s.prefix+k)
		}
	}
	return nil
}

// List calls fn with every key under the store's prefix.
func (s *LakeStore) List(ctx context.Context, fn func(key string, modified time.Time) error) error {
	p := s3sdk.NewListObjectsV2Paginator(s.b.client, &s3sdk.ListObjectsV2Input{Bucket: aws.String(s.b.cfg.Bucket), Prefix: aws.String(s.prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Classify(err, "list", s.b.cfg.Bucket+"/"+s.prefix)
		}
		for _, o := range page.Contents {
			if err := fn(strings.TrimPrefix(aws.ToString(o.Key), s.prefix), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}
