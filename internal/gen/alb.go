package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// ALBSpec describes generated Application Load Balancer access log
// objects.
type ALBSpec struct {
	Seed          uint64
	Account       string
	Region        string
	LB            string // the load balancer's name
	Start         time.Time
	Span          time.Duration
	Objects       int
	RecordsPerObj int
	// Scans is how many objects (spread over the span) also hold a
	// content scan: ScanRequests requests from Attacker within a second,
	// answered 404 or 403, enough for the built-in rule trawl-alb-001
	// (more than 50 client errors from one client in 5 minutes). They
	// are counted in the object's Records and Matches.
	Scans int
}

// ScanRequests is how many requests a planted content scan makes.
const ScanRequests = 60

// ALB generates access log objects under
// AWSLogs/<acct>/elasticloadbalancing/<region>/YYYY/MM/DD/, named as
// Elastic Load Balancing names them, one entry per line in AWS's field
// order (conn_trace_id last), gzip-compressed. Clients are IPv4 and, one
// in eleven, IPv6 (written as ALB writes it: address and port apart by
// the last colon).
func ALB(spec ALBSpec) []Counted {
	r := rand.New(rand.NewPCG(spec.Seed, 0xa1b))
	lbID := fmt.Sprintf("%016x", r.Uint64())
	tg := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s-web/%016x", spec.Region, spec.Account, spec.LB, r.Uint64())
	cert := fmt.Sprintf("arn:aws:acm:%s:%s:certificate/%08x-1234-1234-1234-%012x", spec.Region, spec.Account, r.Uint32(), r.Uint64()&0xffffffffffff)
	agents := []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
		"curl/8.5.0", "okhttp/4.12.0", "Go-http-client/2.0"}
	paths := []string{"/", "/products", "/products/42", "/cart", "/api/items?page=2", "/static/app.js", "/login"}
	var out []Counted
	for i := 0; i < spec.Objects; i++ {
		t0 := spec.Start.Add(time.Duration(float64(spec.Span) * float64(i) / float64(max(spec.Objects, 1)))).UTC()
		node := fmt.Sprintf("10.0.%d.%d", r.IntN(4), 10+r.IntN(200))
		var b strings.Builder
		n := 0
		entry := func(t time.Time, client, method, path string, status int, agent string) {
			typ := []string{"https", "https", "https", "h2", "h2", "http"}[r.IntN(6)]
			scheme, port, version, cipher, proto, domain, chosen := "https", 443, "HTTP/1.1", "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", "shop.example.com", cert
			switch typ {
			case "h2":
				version, cipher, proto = "HTTP/2.0", "TLS_AES_128_GCM_SHA256", "TLSv1.3"
			case "http":
				scheme, port, cipher, proto, domain, chosen = "http", 80, "-", "-", "-", "-"
			}
			target, tstatus := fmt.Sprintf("10.0.%d.%d:8080", 1+r.IntN(2), 10+r.IntN(20)), fmt.Sprint(status)
			tpt := fmt.Sprintf("0.%03d", 1+r.IntN(400))
			if status == 502 {
				tstatus, tpt = "-", "-1"
			}
			created := t.Add(-time.Duration(1+r.IntN(400)) * time.Millisecond)
			fmt.Fprintf(&b, "%s %s app/%s/%s %s %s 0.000 %s 0.000 %d %s %d %d \"%s %s://shop.example.com:%d%s %s\" \"%s\" %s %s %s \"Root=1-%08x-%024x\" \"%s\" \"%s\" %d %s \"forward\" \"-\" \"-\" \"%s\" \"%s\" \"-\" \"-\" TID_%016x\n",
				typ, t.Format("2006-01-02T15:04:05.000000Z"), spec.LB, lbID, client, target, tpt, status, tstatus,
				200+r.IntN(900), 300+r.IntN(20000), method, scheme, port, path, version, agent, cipher, proto, tg,
				uint32(t.Unix()), r.Uint64(), domain, chosen, 1+r.IntN(3), created.Format("2006-01-02T15:04:05.000000Z"),
				target, tstatus, r.Uint64())
			n++
		}
		for j := 0; j < spec.RecordsPerObj; j++ {
			t := t0.Add(time.Duration(j) * 5 * time.Minute / time.Duration(max(spec.RecordsPerObj, 1)))
			client := fmt.Sprintf("198.51.100.%d:%d", 1+r.IntN(250), 1024+r.IntN(60000))
			if j%11 == 5 {
				client = fmt.Sprintf("2001:db8:%x::%x:%d", r.IntN(0xffff), 1+r.IntN(0xfff), 1024+r.IntN(60000))
			}
			status := []int{200, 200, 200, 200, 200, 304, 301, 404, 500, 502}[r.IntN(10)]
			method := "GET"
			if j%9 == 0 {
				method = "POST"
			}
			entry(t, client, method, paths[r.IntN(len(paths))], status, agents[r.IntN(len(agents))])
		}
		matches := 0
		if holdsAttack(i, spec.Objects, spec.Scans) {
			words := []string{"admin", ".env", ".git/config", "wp-login.php", "backup.zip", "phpmyadmin", "server-status", "config.php"}
			for k := 0; k < ScanRequests; k++ {
				status := 404
				if k%6 == 0 {
					status = 403
				}
				entry(t0.Add(time.Second+time.Duration(k)*10*time.Millisecond), fmt.Sprintf("%s:%d", Attacker, 40000+k), "GET",
					fmt.Sprintf("/%s?k=%d", words[k%len(words)], k), status, "Mozilla/5.0 (compatible; scanner)")
				matches++
			}
		}
		end := t0.Add(5 * time.Minute)
		name := fmt.Sprintf("%s_elasticloadbalancing_%s_app.%s.%s_%s_%s_%08x.log.gz", spec.Account, spec.Region, spec.LB, lbID, end.Format("20060102T1504Z"), node, r.Uint32())
		key := fmt.Sprintf("AWSLogs/%s/elasticloadbalancing/%s/%s/%s", spec.Account, spec.Region, t0.Format("2006/01/02"), name)
		out = append(out, Counted{Object: Object{Key: key, Body: gzBytes([]byte(b.String())), Records: n}, Matches: matches})
	}
	return out
}
