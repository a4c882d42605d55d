package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// S3AccessSpec describes generated Amazon S3 server access log objects.
type S3AccessSpec struct {
	Seed    uint64
	Account string
	Region  string
	Bucket  string // the source bucket whose requests are logged
	// Prefix is the target prefix, "" for the bucket's root; it ends
	// with "/" as AWS recommends.
	Prefix string
	// Partitioned writes the date-partitioned key format
	// (<prefix><account>/<region>/<bucket>/YYYY/MM/DD/...) instead of the
	// flat one (<prefix>YYYY-MM-DD-HH-MM-SS-<unique>).
	Partitioned   bool
	Start         time.Time
	Span          time.Duration
	Objects       int
	RecordsPerObj int
	// Probes is how many objects (spread over the span) also hold a key
	// probe: ProbeRequests anonymous GETs from Attacker within a second,
	// answered 403 AccessDenied, enough for the built-in rule
	// trawl-s3-001. They are counted in the object's Records and Matches.
	Probes int
}

// ProbeRequests is how many requests a planted key probe makes.
const ProbeRequests = 30

// S3Access generates server access log objects as S3 delivers them:
// uncompressed text, one record per line in AWS's field order (through
// aclRequired), named by their delivery time (five minutes after the
// object's first record).
func S3Access(spec S3AccessSpec) []Counted {
	r := rand.New(rand.NewPCG(spec.Seed, 0x53a))
	owner := fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
	requesters := []string{owner, "arn:aws:iam::" + spec.Account + ":user/alice", "arn:aws:sts::" + spec.Account + ":assumed-role/app/i-0abc1234def567890",
		"arn:aws:iam::" + spec.Account + ":role/etl"}
	agents := []string{"aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.58.2", "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023",
		"Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.2", "S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488"}
	keys := []string{"reports/2024/q1.csv", "images/logo.png", "data/part-00000.parquet", "backups/db.dump", "index.html", "exports/users.json"}
	host := fmt.Sprintf("%s.s3.%s.amazonaws.com", spec.Bucket, spec.Region)
	var out []Counted
	for i := 0; i < spec.Objects; i++ {
		t0 := spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(max(spec.Objects, 1)))).UTC()
		var b strings.Builder
		n := 0
		entry := func(t time.Time, ip, requester, op, key, method, status, errCode, agent string, size int) {
			sent, sig, auth := fmt.Sprint(size), "SigV4", "AuthHeader"
			if method != "GET" || size == 0 {
				sent = "-"
			}
			if requester == "-" {
				sig, auth = "-", "-"
			}
			objSize, uri := fmt.Sprint(size), "/"+key
			if key == "-" {
				objSize, uri = "-", "/?list-type=2&prefix=data%2F"
			}
			fmt.Fprintf(&b, "%s %s [%s] %s %s %016X %s %s \"%s %s HTTP/1.1\" %s %s %s %s %d %d \"-\" \"%s\" - %s= %s ECDHE-RSA-AES128-GCM-SHA256 %s %s TLSv1.2 - -\n",
				owner, spec.Bucket, t.Format("02/Jan/2006:15:04:05 -0700"), ip, requester, r.Uint64(), op, key, method, uri, status, errCode,
				sent, objSize, 5+r.IntN(200), 1+r.IntN(40), agent, hostID(r), sig, auth, host)
			n++
		}
		for j := 0; j < spec.RecordsPerObj; j++ {
			t := t0.Add(time.Duration(j) * 5 * time.Minute / time.Duration(max(spec.RecordsPerObj, 1)))
			ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), 1+r.IntN(250))
			if j%13 == 6 {
				ip = fmt.Sprintf("2001:db8:%x::%x", r.IntN(0xffff), 1+r.IntN(0xfff))
			}
			key := keys[r.IntN(len(keys))]
			op, method, status, errCode, size := "REST.GET.OBJECT", "GET", "200", "-", 100+r.IntN(1<<20)
			switch r.IntN(10) {
			case 0, 1:
				op, method = "REST.PUT.OBJECT", "PUT"
			case 2:
				op, method, size = "REST.HEAD.OBJECT", "HEAD", 0
			case 3:
				op, key = "REST.GET.BUCKET", "-"
			case 4:
				status, errCode, size = "404", "NoSuchKey", 0
			}
			entry(t, ip, requesters[r.IntN(len(requesters))], op, key, method, status, errCode, agents[r.IntN(len(agents))], size)
		}
		matches := 0
		if holdsAttack(i, spec.Objects, spec.Probes) {
			words := []string{".env", "backup.sql", "config.json", "id_rsa", "credentials.csv", "terraform.tfstate"}
			for k := 0; k < ProbeRequests; k++ {
				entry(t0.Add(time.Second+time.Duration(k)*20*time.Millisecond), Attacker, "-", "REST.GET.OBJECT",
					fmt.Sprintf("%s.%d", words[k%len(words)], k), "GET", "403", "AccessDenied", "python-requests/2.31.0", 0)
				matches++
			}
		}
		out = append(out, Counted{Object: Object{Key: s3AccessKey(spec, t0.Add(5*time.Minute), r), Body: []byte(b.String()), Records: n}, Matches: matches})
	}
	return out
}

// s3AccessKey names an object delivered at t, in the spec's key format.
func s3AccessKey(spec S3AccessSpec, t time.Time, r *rand.Rand) string {
	name := fmt.Sprintf("%s-%016X", t.Format("2006-01-02-15-04-05"), r.Uint64())
	if !spec.Partitioned {
		return spec.Prefix + name
	}
	return fmt.Sprintf("%s%s/%s/%s/%s/%s", spec.Prefix, spec.Account, spec.Region, spec.Bucket, t.Format("2006/01/02"), name)
}

// hostID is an x-amz-id-2 lookalike (base64 characters).
func hostID(r *rand.Rand) string {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b [75]byte
	for i := range b {
		b[i] = b64[r.IntN(len(b64))]
	}
	return string(b[:])
}
