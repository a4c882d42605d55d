package s3

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/trawlhq/trawl/internal/netguard"
	"github.com/trawlhq/trawl/internal/source"
)

// Classify turns an SDK or network error into a *source.Error with the HTTP
// status it maps to, an explanation and a recommendation. op is list, get,
// head or connect; target names the bucket/prefix or key.
func Classify(err error, op, target string) error {
	if err == nil {
		return nil
	}
	var se *source.Error
	if errors.As(err, &se) {
		return err
	}
	if sts := stsFailure(err); sts != nil {
		return classifySTS(err, sts, target)
	}
	e := &source.Error{Op: op, Target: target, Err: err}
	var api smithy.APIError
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
		e.HTTPStatus = status
	}
	if errors.As(err, &api) {
		e.Code = api.ErrorCode()
		msg := api.ErrorMessage()
		classifyAPI(e, status, msg)
		return e
	}
	if status != 0 {
		classifyStatus(e, status)
		return e
	}
	classifyNet(e, err)
	return e
}

func classifyAPI(e *source.Error, status int, msg string) {
	lower := strings.ToLower(e.Code + " " + msg)
	switch {
	case e.Code == "InvalidAccessKeyId":
		set(e, 401, "the access key ID does not exist in this account or store.", "Check the access key ID for typos, or create a new access key in IAM and update the connector.")
	case e.Code == "SignatureDoesNotMatch":
		set(e, 401, "the secret access key does not match the access key ID (the request signature was rejected).", "Re-enter the secret access key that belongs to this access key ID.")
	case e.Code == "ExpiredToken" || e.Code == "TokenRefreshRequired" || e.Code == "InvalidToken":
		set(e, 401, "the credentials have expired or are invalid.", "Rotate the access key, or refresh the session credentials.")
	case e.Code == "RequestTimeTooSkewed":
		set(e, 401, "this host's clock differs too much from the S3 server's (request time too skewed), so the signature is rejected.", "Synchronise the host clock with NTP.")
	case strings.Contains(lower, "kms"):
		set(e, 403, "the object is encrypted with SSE-KMS and these credentials cannot decrypt it (KMS AccessDenied).", "Grant kms:Decrypt on the bucket's KMS key to the IAM user, in both the key policy and the user's IAM policy.")
		if status != 0 && status != 403 {
			e.Status = status
		}
	case e.Code == "AccessDenied" || e.Code == "AccessDeniedException" || e.Code == "AllAccessDisabled" || e.Code == "AccountProblem" || status == 403:
		switch e.Op {
		case source.OpListPublicKeys:
			set(e, 403, "the credentials are valid but are not allowed to read CloudTrail's public keys (cloudtrail:ListPublicKeys), so digests cannot be verified.",
				"Grant cloudtrail:ListPublicKeys (the connector's generated policy includes it), or give the keys with --public-keys.")
		case "list":
			set(e, 403, "the credentials are valid but are not allowed to list this bucket and prefix (s3:ListBucket).", "Grant s3:ListBucket on arn:aws:s3:::BUCKET (with a prefix condition covering the connector's prefix), and check the bucket policy and any SCP.")
		case "get", "head":
			set(e, 403, "the credentials are valid but are not allowed to read objects (s3:GetObject).", "Grant s3:GetObject on arn:aws:s3:::BUCKET/PREFIX/*, and kms:Decrypt if the bucket uses SSE-KMS.")
		default:
			set(e, 403, "access denied.", "Check the IAM policy, the bucket policy and any SCP for this bucket.")
		}
		e.Explanation = strings.ReplaceAll(e.Explanation, "BUCKET", bucketOf(e.Target))
		e.Recommendation = strings.ReplaceAll(strings.ReplaceAll(e.Recommendation, "BUCKET", bucketOf(e.Target)), "PREFIX", prefixOf(e.Target))
	case e.Code == "NoSuchBucket":
		set(e, 404, "the bucket does not exist (or is in another account or partition).", "Check the bucket name and the endpoint.")
	case e.Code == "NoSuchKey" || e.Code == "NotFound":
		set(e, 404, "the object does not exist (it may have been deleted or moved by a lifecycle rule).", "Check the prefix; the object is skipped.")
	case e.Code == "PermanentRedirect" || e.Code == "AuthorizationHeaderMalformed" || e.Code == "IllegalLocationConstraintException" || status == 301:
		set(e, 400, "the bucket is in a different region than the connector's region.", "Set the connector's region to the bucket's region.")
	case e.Code == "SlowDown" || e.Code == "Throttling" || e.Code == "ThrottlingException" || e.Code == "RequestLimitExceeded" || status == 429:
		set(e, 429, "S3 is throttling requests (SlowDown).", "Trawl backs off and retries; if it persists, lower the number of connectors on this bucket or ask AWS for a higher request rate.")
		e.Retryable = true
	case e.Code == "PreconditionFailed" || status == 412:
		set(e, 412, "the object changed while it was being read.", "Nothing to do: the new version is read at the next run.")
		e.Retryable = true
	case e.Code == "InvalidBucketName" || e.Code == "InvalidArgument" || e.Code == "InvalidRequest" || status == 400:
		set(e, 400, "S3 rejected the request as invalid: "+msg, "Check the bucket name, prefix, region and endpoint.")
	case status >= 500 || e.Code == "InternalError" || e.Code == "ServiceUnavailable":
		set(e, orDefault(status, 503), "the S3 service had an internal error.", "Trawl retries; check the AWS Health Dashboard if it persists.")
		e.Retryable = true
	default:
		set(e, orDefault(status, 400), e.Service()+" returned "+e.Code+": "+msg, "Check the connector configuration.")
	}
}

// stsFailure finds an STS operation error inside err: the SDK wraps a
// failed AssumeRole in the S3 call that needed the credentials.
func stsFailure(err error) *smithy.OperationError {
	for e := err; e != nil; {
		if oe, ok := e.(*smithy.OperationError); ok && oe.Service() == "STS" {
			return oe
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			if len(errs) == 0 {
				return nil
			}
			e = errs[0]
		default:
			return nil
		}
	}
	return nil
}

// classifySTS explains a failed AssumeRole: Op is OpAssumeRole, so the
// connection test reports it as the credentials check.
func classifySTS(err error, oe *smithy.OperationError, target string) error {
	e := &source.Error{Op: source.OpAssumeRole, Target: target, Err: err}
	var re *awshttp.ResponseError
	if errors.As(oe, &re) {
		e.HTTPStatus = re.HTTPStatusCode()
	}
	var api smithy.APIError
	if !errors.As(oe, &api) {
		classifyNet(e, oe.Err)
		e.Explanation = "STS could not be reached to assume the role: " + e.Explanation
		return e
	}
	e.Code = api.ErrorCode()
	switch e.Code {
	case "AccessDenied":
		set(e, 403, "STS refused to let Trawl assume the role: "+api.ErrorMessage(),
			"Give the role the trust policy from `trawl connector policy` (sts:AssumeRole for the identity Trawl signs in as, with the condition sts:ExternalId equal to the connector's external ID), and check the role ARN.")
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature", "ExpiredToken":
		set(e, 401, "STS rejected the keys Trawl assumes the role from ("+e.Code+").", "Check the access key ID and secret access key given to assume the role, or rotate them.")
	case "RegionDisabledException":
		set(e, 403, "STS is not activated in this region for the role's account.", "Activate the region's STS endpoint in IAM account settings, or use another region.")
	case "MalformedPolicyDocument", "PackedPolicyTooLarge", "ValidationError":
		set(e, 400, "STS rejected the AssumeRole request: "+api.ErrorMessage(), "Check the role ARN and the external ID.")
	default:
		set(e, orDefault(e.HTTPStatus, 400), "STS answered "+e.Code+": "+api.ErrorMessage(), "Check the role ARN, its trust policy and the external ID.")
		e.Retryable = e.HTTPStatus >= 500 || e.HTTPStatus == 429
	}
	return e
}

func classifyStatus(e *source.Error, status int) {
	switch {
	case status == 403:
		classifyAPI(e, status, "")
	case status == 404:
		set(e, 404, "the bucket or object was not found.", "Check the bucket name, the prefix and the endpoint.")
	case status >= 300 && status < 400:
		set(e, status, "the endpoint answered with a redirect (HTTP "+strconv.Itoa(status)+"), which Trawl never follows (it could lead to an address the network guard refuses).", "Use the endpoint, or the bucket's region, that the redirect points to.")
	case status == 429 || status == 503:
		set(e, 429, "S3 is throttling requests.", "Trawl backs off and retries.")
		e.Retryable = true
	case status >= 500:
		set(e, status, "the S3 service had an internal error.", "Trawl retries.")
		e.Retryable = true
	default:
		set(e, status, e.Service()+" returned HTTP status "+strconv.Itoa(status)+".", "Check the connector configuration.")
	}
}

func classifyNet(e *source.Error, err error) {
	var dnsErr *net.DNSError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *x509.CertificateInvalidError
	var opErr *net.OpError
	var urlErr *url.Error
	s := err.Error()
	switch {
	case errors.Is(err, context.Canceled):
		set(e, 499, "the operation was cancelled.", "")
	case errors.Is(err, netguard.ErrRefused):
		set(e, 400, "the endpoint or proxy resolves to a refused address: "+s, "Use the store's real address; an operator can allow a range explicitly with --allow-net.")
	case strings.Contains(s, "netguard: host"):
		set(e, 400, "the endpoint host cannot be checked: "+s, "Check the endpoint URL and the server's DNS.")
	case strings.Contains(s, "proxyconnect") || strings.Contains(s, "Proxy Authentication Required") || (errors.As(err, &urlErr) && strings.Contains(s, "proxy")):
		set(e, 502, "the proxy refused or could not forward the connection.", "Check the proxy URI, that the proxy is running, and that it allows CONNECT to the S3 endpoint.")
		e.Retryable = true
	case errors.As(err, &dnsErr):
		set(e, 400, "the endpoint host name does not resolve ("+dnsErr.Name+").", "Check the endpoint URL and the host's DNS settings.")
	case errors.As(err, &uaErr) || errors.As(err, &hostErr) || errors.As(err, &certErr) || strings.Contains(s, "x509:") || strings.Contains(s, "tls:"):
		set(e, 400, "the TLS connection to the endpoint failed (certificate not trusted or wrong host name).", "Check the endpoint URL; for a private CA, add it to the host's trust store.")
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(s, "timeout") || strings.Contains(s, "deadline exceeded"):
		set(e, 504, "the endpoint did not answer in time.", "Check network connectivity, firewalls and the endpoint URL; Trawl retries.")
		e.Retryable = true
	case errors.As(err, &opErr) || strings.Contains(s, "connection refused") || strings.Contains(s, "connection reset"):
		set(e, 503, "the endpoint could not be reached (connection refused or reset).", "Check the endpoint URL and port, firewalls and proxy settings; Trawl retries.")
		e.Retryable = true
	case strings.Contains(s, "retry quota exceeded") || strings.Contains(s, "exceeded maximum number of attempts"):
		set(e, 503, "the request kept failing after retries: "+s, "Trawl tries again at the next run.")
		e.Retryable = true
	default:
		set(e, 500, "unexpected error: "+s, "See the Trawl log for details.")
	}
}

func set(e *source.Error, status int, expl, rec string) {
	e.Status, e.Explanation, e.Recommendation = status, expl, rec
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func bucketOf(target string) string {
	if i := strings.IndexByte(target, '/'); i >= 0 {
		return target[:i]
	}
	return target
}

func prefixOf(target string) string {
	if i := strings.IndexByte(target, '/'); i >= 0 {
		return strings.TrimSuffix(target[i+1:], "/")
	}
	return ""
}
