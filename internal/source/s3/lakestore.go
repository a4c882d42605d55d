package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/trawlhq/trawl/internal/netguard"
	"github.com/trawlhq/trawl/internal/source"
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
	region string // where a missing bucket is created
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
	region := cfg.Region
	if region == "" {
		region = "us-east-1" // the SDK's region for the client too (New)
	}
	return &LakeStore{b: b, prefix: prefix, loc: "s3://" + u.Host + "/" + strings.TrimSuffix(prefix, "/"), region: region}, nil
}

// Ensure creates the lake's bucket when it does not exist, in the store's
// region, so that a first `trawl serve --lake` needs no step beforehand.
// When the credentials may not create it, the error names the bucket, the
// region and the permission, and how to create it instead. Other answers
// are left to the lake's first request, which reports them.
func (s *LakeStore) Ensure(ctx context.Context) error {
	bucket := s.b.cfg.Bucket
	_, err := s.b.client.HeadBucket(ctx, &s3sdk.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil || !notFound(err) {
		return nil
	}
	_, err = s.b.client.CreateBucket(ctx, createBucketInput(bucket, s.region))
	var owned *types.BucketAlreadyOwnedByYou
	if err == nil || errors.As(err, &owned) {
		return nil
	}
	create := "aws s3api create-bucket --bucket " + bucket + " --region " + s.region
	if s.region != "us-east-1" {
		create += " --create-bucket-configuration LocationConstraint=" + s.region
	}
	return &lakeBucketError{bucket: bucket, region: s.region, create: create, err: Classify(err, "create", bucket)}
}

// lakeBucketError says which bucket to create, where, and the permission
// that would let Trawl create it.
type lakeBucketError struct {
	bucket, region, create string
	err                    error
}

func (e *lakeBucketError) Error() string {
	answer := e.err.Error()
	var se *source.Error
	if errors.As(e.err, &se) && se.Answer() != "" {
		answer = se.Answer()
	}
	return fmt.Sprintf("the lake's bucket %s does not exist in region %s, and creating it failed (%s): create it (%s), "+
		"or grant the lake's credentials s3:CreateBucket on arn:aws:s3:::%s; then start again", e.bucket, e.region, answer, e.create, e.bucket)
}

func (e *lakeBucketError) Unwrap() error { return e.err }

// createBucketInput asks for bucket in region: us-east-1 takes no location
// constraint (S3 refuses one naming it); every other region needs one.
func createBucketInput(bucket, region string) *s3sdk.CreateBucketInput {
	in := &s3sdk.CreateBucketInput{Bucket: aws.String(bucket)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	return in
}

// notFound reports whether a HEAD answered 404 (it has no body, so no
// error code to read).
func notFound(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		return true
	}
	var nf *types.NotFound
	var nb *types.NoSuchBucket
	return errors.As(err, &nf) || errors.As(err, &nb)
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

// List calls fn with every key under the store's prefix that starts with
// prefix (a key is the part after the store's prefix).
func (s *LakeStore) List(ctx context.Context, prefix string, fn func(key string, modified time.Time) error) error {
	p := s3sdk.NewListObjectsV2Paginator(s.b.client, &s3sdk.ListObjectsV2Input{Bucket: aws.String(s.b.cfg.Bucket), Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Classify(err, "list", s.b.cfg.Bucket+"/"+s.prefix+prefix)
		}
		for _, o := range page.Contents {
			if err := fn(strings.TrimPrefix(aws.ToString(o.Key), s.prefix), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}
