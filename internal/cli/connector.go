package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/app"
	"github.com/trawlhq/trawl/internal/awspolicy"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/query"
)

func cmdConnector(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 {
		return usageErr("connector: want add, list, show, edit, enable, disable, delete, test, policy or external-id")
	}
	switch args[0] {
	case "add":
		return connectorAdd(ctx, g, args[1:])
	case "list", "ls":
		return connectorList(ctx, g, args[1:])
	case "show", "status":
		return connectorShow(ctx, g, args[1:])
	case "edit":
		return connectorEdit(ctx, g, args[1:])
	case "enable", "disable":
		return connectorEnable(ctx, g, args[1:], args[0] == "enable")
	case "delete", "rm":
		return connectorDelete(ctx, g, args[1:])
	case "test":
		return connectorTest(ctx, g, args[1:])
	case "policy":
		return connectorPolicy(ctx, g, args[1:])
	case "external-id":
		return connectorExternalID(ctx, g, args[1:])
	}
	return usageErr("connector: unknown subcommand %q", args[0])
}

type connFlags struct {
	name, tenant, subtype, bucket, prefix, creds, akid, secretFile, fileType, region, regions, endpoint, proxy, start, runOn, interval, lookback string
	roleARN, externalID, stsEndpoint                                                                                                             string
	queueURL, queueRegion, queueEndpoint, queueVisibility, queueIgnored                                                                          string
	queueReceivers                                                                                                                               int
	secretStdin, pathStyle                                                                                                                       bool
	filters                                                                                                                                      multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func bindConnFlags(g *globals, name string) (*connFlags, *flagSet) {
	fs := newFlags(g, name)
	f := &connFlags{}
	fs.StringVar(&f.name, "name", "", "connector name (ASCII)")
	fs.StringVar(&f.tenant, "tenant", "", "tenant")
	fs.StringVar(&f.subtype, "subtype", "", connector.SubTypeChoices())
	fs.StringVar(&f.bucket, "bucket", "", "S3 bucket")
	fs.StringVar(&f.prefix, "prefix", "", "prefix, e.g. AWSLogs/123456789012/CloudTrail (no trailing /)")
	fs.StringVar(&f.creds, "credentials", "", "keys (default when an access key is given), role (default when --role-arn is given) or ambient (the server's own AWS identity; root only)")
	fs.StringVar(&f.roleARN, "role-arn", "", "role to assume (credentials role), e.g. arn:aws:iam::123456789012:role/TrawlLogReader")
	fs.StringVar(&f.externalID, "external-id", "", "sts:ExternalId the role requires (default: the tenant's own, see trawl connector external-id)")
	fs.StringVar(&f.stsEndpoint, "sts-endpoint", "", "STS endpoint URL (a private endpoint; default AWS's regional one)")
	fs.StringVar(&f.akid, "access-key-id", "", "access key ID")
	fs.StringVar(&f.secretFile, "secret-access-key-file", "", "file holding the secret access key")
	fs.BoolVar(&f.secretStdin, "secret-access-key-stdin", false, "read the secret access key from standard input")
	fs.StringVar(&f.fileType, "file-type", "", "gzip or text (waf and s3access; text is the default for s3access, which S3 delivers uncompressed, gzip for the others)")
	fs.StringVar(&f.region, "region", "", "AWS region of the bucket (signs requests and picks the S3 endpoint; collects every log region whatever it is)")
	fs.StringVar(&f.regions, "regions", "", "log regions to collect, comma-separated, e.g. us-east-1,eu-west-1 (default: every region; '' clears on edit)")
	fs.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint URL for S3-compatible stores, or file:///folder for local import")
	fs.BoolVar(&f.pathStyle, "path-style", false, "path-style addressing")
	fs.StringVar(&f.proxy, "proxy", "", "proxy URI")
	fs.StringVar(&f.start, "start", "", "collect objects from this time: RFC3339 or a duration back such as -24h (default -24h)")
	fs.StringVar(&f.runOn, "run-on", "", "node that runs the connector (default this node; * for any node of a shared catalog)")
	fs.StringVar(&f.interval, "interval", "", "polling interval (default 5m; 1h with --queue-url, where polling is the safety net)")
	fs.StringVar(&f.queueURL, "queue-url", "", "SQS queue that S3 (directly, or through SNS or EventBridge) notifies of new objects: they are collected within seconds ('' removes it on edit)")
	fs.StringVar(&f.queueRegion, "queue-region", "", "region of the queue (default: the one in the queue URL, else --region)")
	fs.StringVar(&f.queueEndpoint, "queue-endpoint", "", "SQS endpoint URL (a VPC endpoint or an SQS-compatible server; default AWS's)")
	fs.IntVar(&f.queueReceivers, "queue-receivers", 0, "receivers reading the queue at once on each node (default 2)")
	fs.StringVar(&f.queueVisibility, "queue-visibility", "", "how long a received message stays hidden; extended while its objects are read (default 5m)")
	fs.StringVar(&f.queueIgnored, "queue-ignored", "", "messages announcing nothing to collect (test events, other buckets, outside the prefix): delete (default) or keep for the queue's redrive policy")
	fs.StringVar(&f.lookback, "lookback", "", "how far before the newest collected object each run looks for late objects (default 1h)")
	fs.Var(&f.filters, "filter", "log filter 'drop:QUERY' or 'keep:QUERY' (repeatable)")
	return f, &flagSet{fs}
}

func (f *connFlags) secret(g *globals) (string, error) {
	switch {
	case f.secretFile != "" && f.secretStdin:
		return "", usageErr("give --secret-access-key-file or --secret-access-key-stdin, not both")
	case f.secretFile != "":
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return "", fmt.Errorf("read secret access key file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case f.secretStdin:
		line, err := bufio.NewReader(g.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("read secret access key from stdin: %w", err)
		}
		return strings.TrimSpace(line), nil
	}
	return "", nil
}

func (f *connFlags) apply(g *globals, c *connector.Connector, set map[string]bool) error {
	str := func(flag string, dst *string, v string) {
		if set[flag] {
			*dst = v
		}
	}
	str("name", &c.Name, f.name)
	str("tenant", &c.Tenant, f.tenant)
	if set["subtype"] {
		c.SubType = connector.SubType(f.subtype)
	}
	str("bucket", &c.Bucket, f.bucket)
	str("prefix", &c.Prefix, f.prefix)
	str("credentials", &c.Credentials, f.creds)
	str("access-key-id", &c.AccessKeyID, f.akid)
	str("role-arn", &c.RoleARN, f.roleARN)
	str("external-id", &c.ExternalID, f.externalID)
	str("sts-endpoint", &c.STSEndpoint, f.stsEndpoint)
	str("file-type", &c.FileType, f.fileType)
	str("region", &c.Region, f.region)
	if set["regions"] {
		c.Regions = nil
		for _, r := range strings.Split(f.regions, ",") {
			if r = strings.TrimSpace(r); r != "" {
				c.Regions = append(c.Regions, r)
			}
		}
	}
	str("endpoint", &c.Endpoint, f.endpoint)
	str("proxy", &c.ProxyURI, f.proxy)
	str("run-on", &c.RunOn, f.runOn)
	str("queue-url", &c.QueueURL, f.queueURL)
	str("queue-region", &c.QueueRegion, f.queueRegion)
	str("queue-endpoint", &c.QueueEndpoint, f.queueEndpoint)
	str("queue-ignored", &c.QueueIgnored, f.queueIgnored)
	if set["queue-receivers"] {
		if f.queueReceivers < 1 {
			// 0 would read as "the default" on the wire: say so instead
			// of running two receivers.
			return usageErr("--queue-receivers: %d: at least 1 (to stop receiving, disable the connector or remove its queue with --queue-url '')", f.queueReceivers)
		}
		c.QueueReceivers = f.queueReceivers
	}
	if set["queue-visibility"] {
		d, err := time.ParseDuration(f.queueVisibility)
		if err != nil {
			return usageErr("--queue-visibility: %v (a duration such as 5m)", err)
		}
		if d <= 0 {
			return usageErr("--queue-visibility: %s: at least 1s (default 5m)", f.queueVisibility)
		}
		c.QueueVisibility = connector.Duration(d)
	}
	if set["queue-url"] && f.queueURL == "" {
		// Removing the queue removes its settings.
		c.QueueRegion, c.QueueEndpoint, c.QueueReceivers, c.QueueVisibility, c.QueueIgnored = "", "", 0, 0, ""
	}
	if set["queue-url"] && !set["interval"] {
		// Adding or removing a queue moves an interval left at the
		// default to the other mode's default, as the console does:
		// polling every 5m beside a queue, or hourly without one, is
		// rarely what was meant. A chosen interval stays.
		switch {
		case f.queueURL != "" && c.Interval.D() == connector.DefaultInterval:
			c.Interval = connector.Duration(connector.DefaultQueueInterval)
		case f.queueURL == "" && c.Interval.D() == connector.DefaultQueueInterval:
			c.Interval = connector.Duration(connector.DefaultInterval)
		}
	}
	if set["path-style"] {
		c.PathStyle = f.pathStyle
	}
	if set["start"] {
		t, err := query.ParseTime(f.start, time.Now())
		if err != nil {
			return usageErr("--start: %v", err)
		}
		c.Start = t
	}
	if set["interval"] {
		d, err := time.ParseDuration(f.interval)
		if err != nil {
			return usageErr("--interval: %v", err)
		}
		c.Interval = connector.Duration(d)
	}
	if set["lookback"] {
		d, err := time.ParseDuration(f.lookback)
		if err != nil {
			return usageErr("--lookback: %v", err)
		}
		c.Lookback = connector.Duration(d)
	}
	if set["filter"] {
		c.Filters = nil
		for _, fl := range f.filters {
			action, q, ok := strings.Cut(fl, ":")
			if !ok {
				return usageErr("--filter is drop:QUERY or keep:QUERY")
			}
			c.Filters = append(c.Filters, connector.Filter{Action: action, Query: q})
		}
	}
	s, err := f.secret(g)
	if err != nil {
		return err
	}
	if s != "" {
		c.SecretAccessKey = connector.NewSecret(s)
	}
	return nil
}

func connectorAdd(ctx context.Context, g *globals, args []string) error {
	f, fs := bindConnFlags(g, "connector add")
	if _, err := parse(g, fs.FlagSet, args); err != nil {
		return err
	}
	var c connector.Connector
	if err := f.apply(g, &c, fs.set()); err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	out, err := b.CreateConnector(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "created connector %s (id %s) in tenant %s; it is enabled and collects at the next run\n", out.Name, out.ID, out.Tenant)
	if out.Credentials == connector.CredRole {
		fmt.Fprintf(g.stdout, "it assumes %s with external ID %s; `trawl connector policy %s` prints the role's trust and permissions policies\n", out.RoleARN, out.ExternalID, out.Name)
	}
	return nil
}

func connectorEdit(ctx context.Context, g *globals, args []string) error {
	f, fs := bindConnFlags(g, "connector edit")
	pos, err := parse(g, fs.FlagSet, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("connector edit NAME [flags]")
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	c, err := findConnector(ctx, b, f.tenant, pos[0])
	if err != nil {
		return err
	}
	set := fs.set()
	if !set["tenant"] {
		f.tenant = c.Tenant
	}
	if err := f.apply(g, c, set); err != nil {
		return err
	}
	out, err := b.UpdateConnector(ctx, c.ID, *c, c.Version)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "updated connector %s (version %d)\n", out.Name, out.Version)
	return nil
}

func findConnector(ctx context.Context, b backend, tenant, name string) (*connector.Connector, error) {
	list, err := b.ListConnectors(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var found []connector.Connector
	for _, c := range list {
		if c.ID == name {
			return &c, nil
		}
		if c.Name == name {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return nil, &exitError{code: 1, msg: fmt.Sprintf("no connector named %q (see `trawl connector list`)", name)}
	case 1:
		return &found[0], nil
	}
	return nil, &exitError{code: 1, msg: fmt.Sprintf("connector name %q exists in several tenants: add --tenant", name)}
}

func connectorList(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "connector list")
	tenant := fs.String("tenant", "", "only this tenant")
	asJSON := fs.Bool("json", false, "JSON output")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	list, err := b.ListConnectors(ctx, *tenant)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(g.stdout).Encode(list)
	}
	tw := g.table()
	fmt.Fprintln(tw, "NAME\tTENANT\tSUBTYPE\tBUCKET\tPREFIX\tENABLED\tID")
	for _, c := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", c.Name, c.Tenant, c.SubType, c.Bucket, c.Prefix, c.Enabled, c.ID)
	}
	return tw.Flush()
}

// onConnector parses a command that names one connector (NAME and
// --tenant), opens the backend and calls fn with it.
func onConnector(ctx context.Context, g *globals, cmd string, args []string, extra func(*flag.FlagSet), fn func(b backend, c *connector.Connector) error) error {
	fs := newFlags(g, cmd)
	tenant := fs.String("tenant", "", "tenant of the connector")
	if extra != nil {
		extra(fs)
	}
	pos, err := parse(g, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("%s NAME", cmd)
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	c, err := findConnector(ctx, b, *tenant, pos[0])
	if err != nil {
		return err
	}
	return fn(b, c)
}

func connectorShow(ctx context.Context, g *globals, args []string) error {
	return onConnector(ctx, g, "connector show", args, nil, func(b backend, c *connector.Connector) error {
		st, err := b.Status(ctx, c.ID)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	})
}

func connectorEnable(ctx context.Context, g *globals, args []string, on bool) error {
	return onConnector(ctx, g, "connector enable|disable", args, nil, func(b backend, c *connector.Connector) error {
		return b.SetEnabled(ctx, c.ID, on)
	})
}

func connectorDelete(ctx context.Context, g *globals, args []string) error {
	return onConnector(ctx, g, "connector delete", args, nil, func(b backend, c *connector.Connector) error {
		if err := b.DeleteConnector(ctx, c.ID); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "deleted connector %s; its records stay searchable\n", c.Name)
		return nil
	})
}

func connectorTest(ctx context.Context, g *globals, args []string) error {
	var asJSON *bool
	jsonFlag := func(fs *flag.FlagSet) { asJSON = fs.Bool("json", false, "JSON output") }
	return onConnector(ctx, g, "connector test", args, jsonFlag, func(b backend, c *connector.Connector) error {
		return testOne(ctx, g, b, c, *asJSON)
	})
}

// connectorPolicy prints the IAM policies the connector needs as JSON.
func connectorPolicy(ctx context.Context, g *globals, args []string) error {
	var kms, queueKMS, principal, part *string
	extra := func(fs *flag.FlagSet) {
		kms = fs.String("kms-key-arn", "", "ARN of the KMS key that encrypts the logs (SSE-KMS); without it a placeholder says to replace it")
		queueKMS = fs.String("queue-kms-key-arn", "", "ARN of the KMS key that encrypts the connector's SQS queue, if it is encrypted with one")
		principal = fs.String("principal", "", "ARN of the identity Trawl assumes the role from (trust policy; default the server's --aws-principal)")
		part = fs.String("part", "", "print only one document: permissions or trust (for aws iam put-role-policy / create-role)")
	}
	return onConnector(ctx, g, "connector policy", args, extra, func(b backend, c *connector.Connector) error {
		p, err := b.Policy(ctx, c.ID, awspolicy.Options{KMSKeyARN: *kms, Principal: *principal, QueueKMSKeyARN: *queueKMS})
		if err != nil {
			return err
		}
		var doc any = p
		switch *part {
		case "":
		case "permissions":
			doc = p.Permissions
		case "trust":
			if p.Trust == nil {
				// Not a usage error: the command is right, the connector
				// is not a role's; say what it uses and what to do.
				return &exitError{code: 1, msg: fmt.Sprintf("connector %s uses %s, not a role: only a role has a trust policy. "+
					"Print its permissions with --part permissions, or make it assume a role with "+
					"`trawl connector edit %s --credentials role --role-arn ARN`", c.Name, credentialKind(c), c.Name)}
			}
			doc = p.Trust
		default:
			return usageErr("--part is permissions or trust")
		}
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(doc)
	})
}

// credentialKind says, for a message, how a connector authenticates.
func credentialKind(c *connector.Connector) string {
	switch {
	case c.IsLocal():
		return "no credentials (it reads a local folder)"
	case c.Credentials == connector.CredKeys:
		return "an access key (credentials keys)"
	case c.Credentials == "":
		return "no credentials"
	}
	return "credentials " + c.Credentials
}

// connectorExternalID prints the tenant's generated external ID, to put in
// a role's trust policy before the connector exists.
func connectorExternalID(ctx context.Context, g *globals, args []string) error {
	fs := newFlags(g, "connector external-id")
	tenant := fs.String("tenant", "", "tenant (a tenant token: its own)")
	if _, err := parse(g, fs, args); err != nil {
		return err
	}
	b, err := openBackend(ctx, g)
	if err != nil {
		return err
	}
	defer b.Close()
	id, err := b.ExternalID(ctx, *tenant)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, id)
	return nil
}

func testOne(ctx context.Context, g *globals, b backend, c *connector.Connector, asJSON bool) error {
	res, err := b.Test(ctx, c.ID)
	if err != nil {
		return err
	}
	if asJSON {
		if err := json.NewEncoder(g.stdout).Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(g.human(), res.Summary)
		printChecks(g, "", res.Checks)
		for _, a := range res.Accounts {
			state := "ok"
			if !a.OK {
				state = "FAILED"
			}
			fmt.Fprintf(g.human(), "account %s: %s\n", a.Account, state)
			printChecks(g, "  ", a.Checks)
		}
		if res.Object != "" {
			fmt.Fprintf(g.human(), "sample object: %s\n", res.Object)
		}
	}
	if !res.OK {
		return &exitError{code: 1}
	}
	return nil
}

func printChecks(g *globals, indent string, checks []app.Check) {
	out := g.human() // details quote what the tenant's endpoint answered
	for _, ch := range checks {
		switch {
		case ch.Skipped:
			fmt.Fprintf(out, "%s  %-12s skipped  %s\n", indent, ch.Name, ch.Detail)
		case ch.OK:
			fmt.Fprintf(out, "%s  %-12s ok       %s\n", indent, ch.Name, ch.Detail)
		default:
			fmt.Fprintf(out, "%s  %-12s FAILED   %d: %s %s", indent, ch.Name, ch.Status, ch.Explanation, ch.Recommendation)
			if ch.Detail != "" {
				fmt.Fprintf(out, " (%s)", ch.Detail)
			}
			fmt.Fprintln(out)
		}
	}
}
