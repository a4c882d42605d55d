// Package s3 reads log objects from Amazon S3 or an S3-compatible store with
// aws-sdk-go-v2. It is the only package that imports the AWS SDK: listing is
// paginated, bodies are streamed and resumed with a Range request when a
// connection breaks, and every failure is classified as the HTTP status it
// maps to with a recommendation.
package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trawlhq/trawl/internal/netguard"
	"github.com/trawlhq/trawl/internal/source"
)

// Config says how to reach one bucket.
type Config struct {
	Bucket          string
	Region          string
	Endpoint        string // empty: AWS
	PathStyle       bool
	ProxyURI        string
	AccessKeyID     string
	SecretAccessKey string // empty with AccessKeyID empty: default credential chain
	// RoleARN, when set, is assumed through STS AssumeRole with ExternalID,
	// from the keys above (or the default chain without them); the session
	// credentials are cached and refreshed five minutes before they expire.
	RoleARN     string
	ExternalID  string
	SessionName string
	STSEndpoint string // empty: the regional STS endpoint
	// CloudTrailEndpoint is where ListPublicKeys goes (empty: AWS's
	// regional endpoint; tests point it at a recorded response).
	CloudTrailEndpoint string
	Guard              netguard.Policy
	// Transport wraps the HTTP transport, e.g. to count requests in tests.
	Transport func(http.RoundTripper) http.RoundTripper
	// MaxAttempts per request, including the first (default 6).
	MaxAttempts int
	// ReadStall is how long a body read may block before it is abandoned
	// and resumed (default 2 minutes).
	ReadStall time.Duration
}

// Bucket is a connected bucket.
type Bucket struct {
	cfg    Config
	client *s3sdk.Client
	rt     http.RoundTripper
	aws    aws.Config // for the CloudTrail client beside S3
}

func (b *Bucket) httpClient() *http.Client {
	return &http.Client{Transport: b.rt, Timeout: 30 * time.Second, CheckRedirect: netguard.NoRedirects}
}

// New connects to a bucket. It does not make a request.
func New(ctx context.Context, cfg Config) (*Bucket, error) {
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.ReadStall == 0 {
		cfg.ReadStall = 2 * time.Minute
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	rt, err := transport(cfg)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOptions(cfg, region)...)
	if err != nil {
		return nil, &source.Error{Status: 400, Op: "connect", Target: cfg.Bucket, Explanation: "the AWS configuration could not be loaded: " + err.Error() + ".", Recommendation: "Give an access key ID and secret, or configure the default credential chain.", Err: err}
	}
	if cfg.RoleARN != "" {
		awsCfg.Credentials = assumeRole(awsCfg, cfg, rt)
	}
	client := s3sdk.NewFromConfig(awsCfg, func(o *s3sdk.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle || cfg.Endpoint != ""
		// Our own client, so the guard, proxy and timeouts apply to S3.
		o.HTTPClient = &http.Client{Transport: rt, CheckRedirect: netguard.NoRedirects}
	})
	return &Bucket{cfg: cfg, client: client, rt: rt, aws: awsCfg}, nil
}

// transport is the HTTP transport of every request to the bucket (and to
// STS): the network guard at dial time, the proxy, timeouts, the CA bundle.
func transport(cfg Config) (http.RoundTripper, error) {
	dialer := cfg.Guard.Dialer(&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second})
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
	}
	if bundle := os.Getenv("AWS_CA_BUNDLE"); bundle != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if pem, err := os.ReadFile(bundle); err == nil {
			pool.AppendCertsFromPEM(pem)
			tr.TLSClientConfig.RootCAs = pool
		}
	}
	if cfg.ProxyURI != "" {
		pu, err := url.Parse(cfg.ProxyURI)
		if err != nil {
			return nil, &source.Error{Status: 400, Op: "connect", Target: cfg.ProxyURI, Explanation: "the proxy URI is not a valid URL.", Recommendation: "Fix the proxy URI, e.g. http://proxy.example.com:3128.", Err: err}
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	var rt http.RoundTripper = tr
	if cfg.ProxyURI != "" {
		// The proxy resolves the endpoint, so it is checked here.
		rt = cfg.Guard.Transport(rt)
	}
	if cfg.Transport != nil {
		rt = cfg.Transport(rt)
	}
	return rt, nil
}

// loadOptions are the SDK's settings: region, retries and credentials.
func loadOptions(cfg Config, region string) []func(*config.LoadOptions) error {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = 20 * time.Second
				// No client-side retry quota: under sustained throttling
				// every request keeps backing off instead of failing fast;
				// the run, not the request, is what gives up.
				o.RateLimiter = ratelimit.None
			})
		}),
		// S3-compatible stores differ in checksum support; S3 itself does
		// not need them for reads.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	return opts
}

// assumeRole returns cached credentials of the role, assumed with the
// configured credentials over the same guarded transport as S3.
func assumeRole(base aws.Config, cfg Config, rt http.RoundTripper) aws.CredentialsProvider {
	client := sts.NewFromConfig(base, func(o *sts.Options) {
		if cfg.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.STSEndpoint)
		}
		o.HTTPClient = &http.Client{Transport: rt, CheckRedirect: netguard.NoRedirects}
	})
	name := cfg.SessionName
	if name == "" {
		name = "trawl"
	}
	prov := stscreds.NewAssumeRoleProvider(client, cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = name
		o.Duration = time.Hour
		if cfg.ExternalID != "" {
			o.ExternalID = aws.String(cfg.ExternalID)
		}
	})
	return aws.NewCredentialsCache(prov, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute })
}

// SessionName is the STS role session name for a connector: "trawl-" and
// its name, reduced to the characters STS accepts, at most 64, so
// CloudTrail in the user's account shows which connector read the logs.
func SessionName(connectorName string) string {
	var b strings.Builder
	b.WriteString("trawl-")
	for _, r := range connectorName {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("+=,.@_-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// Name returns the bucket name.
func (b *Bucket) Name() string { return b.cfg.Bucket }

// List calls fn for every object under prefix, in key order, starting after
// startAfter.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, fn func(source.Object) error) error {
	in := &s3sdk.ListObjectsV2Input{Bucket: aws.String(b.cfg.Bucket), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	p := s3sdk.NewListObjectsV2Paginator(b.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Classify(err, "list", b.cfg.Bucket+"/"+prefix)
		}
		for _, o := range page.Contents {
			obj := source.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)}
			if o.LastModified != nil {
				obj.LastModified = o.LastModified.UTC()
			}
			if err := fn(obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open streams an object's body from byte offset, resuming with a Range
// request when the connection breaks or stalls, and failing rather than
// returning a short body. A non-empty etag pins the version being read.
func (b *Bucket) Open(ctx context.Context, obj source.Object) (io.ReadCloser, error) {
	r := &resumingReader{ctx: ctx, b: b, obj: obj, size: -1}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

type resumingReader struct {
	ctx     context.Context
	b       *Bucket
	obj     source.Object
	body    io.ReadCloser
	off     int64
	size    int64
	resumes int
	cancel  context.CancelFunc
}

const maxResumes = 10

func (r *resumingReader) open() error {
	in := &s3sdk.GetObjectInput{Bucket: aws.String(r.b.cfg.Bucket), Key: aws.String(r.obj.Key)}
	if r.off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
	}
	if r.obj.ETag != "" {
		in.IfMatch = aws.String(`"` + r.obj.ETag + `"`)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	out, err := r.b.client.GetObject(ctx, in)
	if err != nil {
		cancel()
		return Classify(err, "get", r.b.cfg.Bucket+"/"+r.obj.Key)
	}
	if r.size < 0 {
		r.size = r.off + aws.ToInt64(out.ContentLength)
	}
	r.body = out.Body
	r.cancel = cancel
	return nil
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		n, err := r.readWithStall(p)
		r.off += int64(n)
		if err == nil || n > 0 && err == nil {
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			if r.off >= r.size {
				return n, io.EOF
			}
			err = fmt.Errorf("body ended at byte %d of %d", r.off, r.size)
		}
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		if r.resumes >= maxResumes {
			return n, &source.Error{Status: 502, Op: "get", Target: r.b.cfg.Bucket + "/" + r.obj.Key, Explanation: fmt.Sprintf("the object body kept breaking (%d resumes): %v.", r.resumes, err), Recommendation: "Check the network path to S3; the object will be retried at the next run.", Retryable: true, Err: err}
		}
		r.closeBody()
		r.resumes++
		select {
		case <-time.After(time.Duration(r.resumes) * 200 * time.Millisecond):
		case <-r.ctx.Done():
			return n, r.ctx.Err()
		}
		if oerr := r.open(); oerr != nil {
			return n, oerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// readWithStall reads, abandoning the connection if it stalls.
func (r *resumingReader) readWithStall(p []byte) (int, error) {
	t := time.AfterFunc(r.b.cfg.ReadStall, func() {
		if r.cancel != nil {
			r.cancel()
		}
	})
	n, err := r.body.Read(p)
	if !t.Stop() && err != nil && r.ctx.Err() == nil {
		err = fmt.Errorf("read stalled for %s: %w", r.b.cfg.ReadStall, err)
	}
	return n, err
}

func (r *resumingReader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
}

func (r *resumingReader) Close() error {
	r.closeBody()
	return nil
}

// Resumes reports how many times the body was resumed.
func Resumes(rc io.ReadCloser) int {
	if r, ok := rc.(*resumingReader); ok {
		return r.resumes
	}
	return 0
}

// Head returns an object's metadata, including its server-side encryption.
func (b *Bucket) Head(ctx context.Context, key string) (source.Object, string, error) {
	out, err := b.client.HeadObject(ctx, &s3sdk.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return source.Object{}, "", Classify(err, "head", b.cfg.Bucket+"/"+key)
	}
	o := source.Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}
	if out.LastModified != nil {
		o.LastModified = out.LastModified.UTC()
	}
	return o, string(out.ServerSideEncryption), nil
}

// Metadata returns an object's user metadata (x-amz-meta-*), with names
// lowercased and without the prefix: a CloudTrail digest's signature is
// "signature".
func (b *Bucket) Metadata(ctx context.Context, key string) (map[string]string, error) {
	out, err := b.client.HeadObject(ctx, &s3sdk.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, Classify(err, "head", b.cfg.Bucket+"/"+key)
	}
	m := make(map[string]string, len(out.Metadata))
	for k, v := range out.Metadata {
		m[strings.ToLower(k)] = v
	}
	return m, nil
}

// PutWithMetadata uploads an object with user metadata (tests and `trawl
// gen`: signed digests).
func (b *Bucket) PutWithMetadata(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string) error {
	_, err := b.client.PutObject(ctx, &s3sdk.PutObjectInput{
		Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key), Body: body, ContentLength: aws.Int64(size), Metadata: meta,
	})
	if err != nil {
		return Classify(err, "put", b.cfg.Bucket+"/"+key)
	}
	return nil
}

// PublicKeys lists CloudTrail's public keys of a region for digests in
// [from, to] (cloudtrail:ListPublicKeys, with the connector's
// credentials), as DER by fingerprint.
func (b *Bucket) PublicKeys(ctx context.Context, region string, from, to time.Time) (map[string][]byte, error) {
	client := cloudtrail.NewFromConfig(b.aws, func(o *cloudtrail.Options) {
		o.Region = region
		if b.cfg.CloudTrailEndpoint != "" {
			o.BaseEndpoint = aws.String(b.cfg.CloudTrailEndpoint)
		}
		o.HTTPClient = &http.Client{Transport: b.rt, CheckRedirect: netguard.NoRedirects}
	})
	out := map[string][]byte{}
	in := &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(from.UTC()), EndTime: aws.Time(to.UTC())}
	for page := 0; page < 100; page++ {
		res, err := client.ListPublicKeys(ctx, in)
		if err != nil {
			return nil, Classify(err, source.OpListPublicKeys, "cloudtrail "+region)
		}
		for _, k := range res.PublicKeyList {
			if k.Fingerprint != nil {
				out[strings.ToLower(*k.Fingerprint)] = k.Value
			}
		}
		if res.NextToken == nil || *res.NextToken == "" {
			break
		}
		in.NextToken = res.NextToken
	}
	return out, nil
}

// CreateBucket creates the bucket (tests and `trawl gen`).
func (b *Bucket) CreateBucket(ctx context.Context) error {
	_, err := b.client.CreateBucket(ctx, &s3sdk.CreateBucketInput{Bucket: aws.String(b.cfg.Bucket)})
	if err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil
		}
		return Classify(err, "create-bucket", b.cfg.Bucket)
	}
	return nil
}

// PutBucketPolicy installs a bucket policy (tests of generated policies
// against a real evaluator); an empty policy deletes it.
func (b *Bucket) PutBucketPolicy(ctx context.Context, policy string) error {
	var err error
	if policy == "" {
		_, err = b.client.DeleteBucketPolicy(ctx, &s3sdk.DeleteBucketPolicyInput{Bucket: aws.String(b.cfg.Bucket)})
	} else {
		_, err = b.client.PutBucketPolicy(ctx, &s3sdk.PutBucketPolicyInput{Bucket: aws.String(b.cfg.Bucket), Policy: aws.String(policy)})
	}
	if err != nil {
		return fmt.Errorf("bucket policy of %s: %w", b.cfg.Bucket, err)
	}
	return nil
}

// Put uploads an object of known size (tests and `trawl gen`).
func (b *Bucket) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	_, err := b.client.PutObject(ctx, &s3sdk.PutObjectInput{
		Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key), Body: body, ContentLength: aws.Int64(size),
	})
	if err != nil {
		return Classify(err, "put", b.cfg.Bucket+"/"+key)
	}
	return nil
}

// ListLevel returns the folders and objects directly below prefix (one
// delimiter listing, paginated).
func (b *Bucket) ListLevel(ctx context.Context, prefix string) ([]string, []source.Object, error) {
	in := &s3sdk.ListObjectsV2Input{Bucket: aws.String(b.cfg.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	p := s3sdk.NewListObjectsV2Paginator(b.client, in)
	var dirs []string
	var objs []source.Object
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, Classify(err, "list", b.cfg.Bucket+"/"+prefix)
		}
		for _, cp := range page.CommonPrefixes {
			dirs = append(dirs, aws.ToString(cp.Prefix))
		}
		for _, o := range page.Contents {
			obj := source.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)}
			if o.LastModified != nil {
				obj.LastModified = o.LastModified.UTC()
			}
			objs = append(objs, obj)
		}
	}
	return dirs, objs, nil
}

// Probe checks that the endpoint answers over the configured path (DNS,
// proxy, TCP, TLS) without judging the answer: any HTTP response means it is
// reachable.
func (b *Bucket) Probe(ctx context.Context) error {
	u := b.cfg.Endpoint
	if u == "" {
		region := b.cfg.Region
		if region == "" {
			region = "us-east-1"
		}
		u = "https://s3." + region + ".amazonaws.com"
		if strings.HasPrefix(region, "cn-") {
			u += ".cn"
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return &source.Error{Status: 400, Op: "connect", Target: u, Explanation: "the endpoint URL is invalid.", Recommendation: "Fix the endpoint URL.", Err: err}
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		return Classify(err, "connect", u)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusProxyAuthRequired || resp.StatusCode == http.StatusBadGateway && b.cfg.ProxyURI != "" {
		return &source.Error{Status: 502, Op: "connect", Target: u, HTTPStatus: resp.StatusCode, Explanation: "the proxy refused to forward the connection.", Recommendation: "Check the proxy URI and its access rules."}
	}
	return nil
}

// FirstPage lists up to max keys under prefix: one request, used by the
// connection test to tell bad credentials from missing permissions.
func (b *Bucket) FirstPage(ctx context.Context, prefix string, max int32) ([]source.Object, error) {
	out, err := b.client.ListObjectsV2(ctx, &s3sdk.ListObjectsV2Input{Bucket: aws.String(b.cfg.Bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(max)})
	if err != nil {
		return nil, Classify(err, "list", b.cfg.Bucket+"/"+prefix)
	}
	var objs []source.Object
	for _, o := range out.Contents {
		obj := source.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)}
		if o.LastModified != nil {
			obj.LastModified = o.LastModified.UTC()
		}
		objs = append(objs, obj)
	}
	return objs, nil
}
