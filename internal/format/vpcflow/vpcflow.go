// Package vpcflow decodes VPC Flow Logs as AWS delivers them to S3: text
// objects whose first line is a header naming the fields (so any documented
// subset and order works: v2 default, v3-v5, transit gateway and ECS fields),
// and Parquet objects with the same fields as underscored columns. "-" means
// absent. Lines are read one at a time; Parquet objects are spooled to a
// temporary file because the format keeps its index at the end.
package vpcflow

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/trawlhq/trawl/internal/format"
	"github.com/trawlhq/trawl/internal/interflow"
	"github.com/trawlhq/trawl/internal/prefix"
)

// MaxLine caps one line; a longer line is quarantined, not buffered.
const MaxLine = 64 << 10

type kind int

const (
	kString kind = iota
	kInt
	kIP
	kTime
	kProto
	kFlags
)

type column struct {
	field int
	kind  kind
}

// columns maps documented field names (hyphenated, as in headers) to
// Interflow fields.
var columns = map[string]column{
	"version":                    {interflow.TVersion, kInt},
	"account-id":                 {interflow.FAccountID, kString},
	"interface-id":               {interflow.TInterfaceID, kString},
	"srcaddr":                    {interflow.FSrcIP, kIP},
	"dstaddr":                    {interflow.TDstIP, kIP},
	"srcport":                    {interflow.TSrcPort, kInt},
	"dstport":                    {interflow.TDstPort, kInt},
	"protocol":                   {interflow.TProtocol, kProto},
	"packets":                    {interflow.TPackets, kInt},
	"bytes":                      {interflow.TBytes, kInt},
	"start":                      {interflow.TStart, kTime},
	"end":                        {interflow.TEnd, kTime},
	"action":                     {interflow.FAction, kString},
	"log-status":                 {interflow.TLogStatus, kString},
	"vpc-id":                     {interflow.TVPCID, kString},
	"subnet-id":                  {interflow.TSubnetID, kString},
	"instance-id":                {interflow.TInstanceID, kString},
	"tcp-flags":                  {interflow.TTCPFlags, kFlags},
	"type":                       {interflow.TType, kString},
	"pkt-srcaddr":                {interflow.TPktSrcAddr, kIP},
	"pkt-dstaddr":                {interflow.TPktDstAddr, kIP},
	"region":                     {interflow.FRegion, kString},
	"az-id":                      {interflow.TAZID, kString},
	"sublocation-type":           {interflow.TSublocationType, kString},
	"sublocation-id":             {interflow.TSublocationID, kString},
	"pkt-src-aws-service":        {interflow.TPktSrcService, kString},
	"pkt-dst-aws-service":        {interflow.TPktDstService, kString},
	"flow-direction":             {interflow.TFlowDirection, kString},
	"traffic-path":               {interflow.TTrafficPath, kInt},
	"ecs-cluster-arn":            {interflow.TECSClusterARN, kString},
	"ecs-cluster-name":           {interflow.TECSClusterName, kString},
	"ecs-container-instance-arn": {interflow.TECSContainerInstanceARN, kString},
	"ecs-container-instance-id":  {interflow.TECSContainerInstanceID, kString},
	"ecs-container-id":           {interflow.TECSContainerID, kString},
	"ecs-second-container-id":    {interflow.TECSSecondContainerID, kString},
	"ecs-service-name":           {interflow.TECSServiceName, kString},
	"ecs-task-definition-arn":    {interflow.TECSTaskDefinitionARN, kString},
	"ecs-task-arn":               {interflow.TECSTaskARN, kString},
	"ecs-task-id":                {interflow.TECSTaskID, kString},
	"reject-reason":              {interflow.TRejectReason, kString},
	"resource-type":              {interflow.TResourceType, kString},
	"tgw-id":                     {interflow.TTGWID, kString},
	"tgw-attachment-id":          {interflow.TTGWAttachmentID, kString},
	"tgw-src-vpc-account-id":     {interflow.TTGWSrcVPCAccountID, kString},
	"tgw-dst-vpc-account-id":     {interflow.TTGWDstVPCAccountID, kString},
	"tgw-src-vpc-id":             {interflow.TTGWSrcVPCID, kString},
	"tgw-dst-vpc-id":             {interflow.TTGWDstVPCID, kString},
	"tgw-src-subnet-id":          {interflow.TTGWSrcSubnetID, kString},
	"tgw-dst-subnet-id":          {interflow.TTGWDstSubnetID, kString},
	"tgw-src-eni":                {interflow.TTGWSrcENI, kString},
	"tgw-dst-eni":                {interflow.TTGWDstENI, kString},
	"tgw-src-az-id":              {interflow.TTGWSrcAZID, kString},
	"tgw-dst-az-id":              {interflow.TTGWDstAZID, kString},
	"tgw-pair-attachment-id":     {interflow.TTGWPairAttachmentID, kString},
	"packets-lost-no-route":      {interflow.TPacketsLostNoRoute, kInt},
	"packets-lost-blackhole":     {interflow.TPacketsLostBlackhole, kInt},
	"packets-lost-mtu-exceeded":  {interflow.TPacketsLostMTUExceeded, kInt},
	"packets-lost-ttl-expired":   {interflow.TPacketsLostTTLExpired, kInt},
}

// FieldNames lists the documented field names this decoder maps.
func FieldNames() []string {
	out := make([]string, 0, len(columns))
	for k := range columns {
		out = append(out, k)
	}
	return out
}

// canonical turns a Parquet column name (account_id) or a header name with
// odd case into the documented form (account-id).
func canonical(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), "_", "-"))
}

// isHeader reports whether a line is a header: its first token names a
// field rather than holding a value.
func isHeader(fields [][]byte) bool {
	if len(fields) == 0 {
		return false
	}
	_, ok := columns[canonical(string(fields[0]))]
	if !ok {
		return false
	}
	// "version" as a value is a number; as a header it is a word.
	c := fields[0][0]
	return c < '0' || c > '9'
}

// Decoder reads flow records from one object. Raw records are the log line;
// records from Parquet are rendered as a line in column order.
type Decoder struct {
	fields   [][]byte
	key      string
	header   []string
	cols     []column          // per header position; field -1 for unknown names
	texts    []format.Repeated // per header position: a text column's last value
	br       *bufio.Reader
	off      int64
	line     []byte
	pq       *parquetRows
	err      error
	acct     string // from the key, for records without account-id
	region   string // from the key, for records without region
	spoolDir string
	delivery time.Time // the object's delivery time, for formats without start/end
}

// NewDecoder returns a decoder over a decompressed object. key gives the
// account and region when the records lack them.
func NewDecoder(r io.Reader, key string) *Decoder {
	d := &Decoder{key: key, br: bufio.NewReaderSize(r, 64<<10), acct: prefix.Account(key), region: regionFromKey(key)}
	return d
}

// SetDeliveryTime sets the time used for records whose format has neither
// start nor end: the object's delivery (last-modified) time.
func (d *Decoder) SetDeliveryTime(t time.Time) { d.delivery = t.UTC() }

// SetSpoolDir sets where Parquet objects are spooled (default os.TempDir).
func (d *Decoder) SetSpoolDir(dir string) { d.spoolDir = dir }

// Offset is the decompressed byte offset reached.
func (d *Decoder) Offset() int64 { return d.off }

// Close releases a spooled Parquet file.
func (d *Decoder) Close() error {
	if d.pq != nil {
		return d.pq.close()
	}
	return nil
}

func regionFromKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if v, ok := strings.CutPrefix(p, "aws-region="); ok {
			return v
		}
		if p == "vpcflowlogs" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return ""
}

// Next returns the next record: the raw line. Header lines, repeated
// headers and blank lines are consumed silently. A line that does not fit
// the header is returned too, and Normalize quarantines it.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.pq == nil && d.off == 0 && d.header == nil {
		if magic, _ := d.br.Peek(4); string(magic) == "PAR1" {
			pq, err := openParquet(d.br, d.spoolDir)
			if err != nil {
				d.err = err
				return nil, err
			}
			d.pq = pq
			d.setHeader(pq.names)
		}
	}
	if d.pq != nil {
		line, err := d.pq.next()
		if err != nil {
			d.err = err
		}
		return line, err
	}
	for {
		line, err := d.readLine()
		if err != nil {
			d.err = err
			return nil, err
		}
		d.fields = splitFields(d.fields[:0], line)
		fields := d.fields
		if len(fields) == 0 {
			continue
		}
		if isHeader(fields) {
			names := make([]string, len(fields))
			for i, f := range fields {
				names[i] = string(f)
			}
			d.setHeader(names)
			continue
		}
		return line, nil
	}
}

func (d *Decoder) setHeader(names []string) {
	d.header = names
	d.cols = make([]column, len(names))
	d.texts = make([]format.Repeated, len(names))
	for i, n := range names {
		c, ok := columns[canonical(n)]
		if !ok {
			c = column{field: -1}
		}
		d.cols[i] = c
	}
}

// readLine reads one line, without its newline; an overlong line is
// returned truncated to MaxLine (and then fails the field count).
func (d *Decoder) readLine() ([]byte, error) {
	d.line = d.line[:0]
	for {
		chunk, err := d.br.ReadSlice('\n')
		d.off += int64(len(chunk))
		if len(d.line)+len(chunk) <= MaxLine {
			d.line = append(d.line, chunk...)
		}
		if err == nil {
			return bytes.TrimRight(d.line, "\r\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(d.line) > 0 {
			return bytes.TrimRight(d.line, "\r\n"), nil
		}
		return nil, err
	}
}

// Header returns the current header line, for quarantine entries that must
// be re-read on their own.
func (d *Decoder) Header() string { return strings.Join(d.header, " ") }

// Normalize fills rec (a traffic record stamped with its provenance) from a
// line read by this decoder.
func (d *Decoder) Normalize(line []byte, rec *interflow.Record) error {
	if d.header == nil {
		return &format.RecordError{Reason: "no header line before the first record: a VPC flow log object starts with the field names (e.g. version account-id interface-id ...)", Raw: line}
	}
	d.fields = splitFields(d.fields[:0], line)
	fields := d.fields
	if len(fields) != len(d.cols) {
		return &format.RecordError{Reason: fmt.Sprintf("the line has %d fields but the header names %d (%s)", len(fields), len(d.cols), d.Header()), Raw: d.withHeader(line)}
	}
	for i, f := range fields {
		c := d.cols[i]
		if c.field < 0 || len(f) == 1 && f[0] == '-' {
			continue
		}
		switch c.kind {
		case kString:
			d.texts[i].Set(rec, d.cols[i].field, f)
		case kInt, kProto, kFlags:
			n, ok := parseInt(f)
			if !ok {
				return &format.RecordError{Reason: fmt.Sprintf("field %s: %q is not a number", d.header[i], f), Raw: d.withHeader(line)}
			}
			rec.SetInt(c.field, n)
			if c.kind == kProto {
				rec.SetString(interflow.TProtoName, ProtoName(n))
			}
			if c.kind == kFlags {
				rec.SetString(interflow.TTCPFlagsName, FlagNames(n))
			}
		case kIP:
			if !setIP(rec, c.field, f) {
				return &format.RecordError{Reason: fmt.Sprintf("field %s: %q is not an IP address", d.header[i], f), Raw: d.withHeader(line)}
			}
		case kTime:
			n, ok := parseInt(f)
			if !ok || n < 0 {
				return &format.RecordError{Reason: fmt.Sprintf("field %s: %q is not epoch seconds", d.header[i], f), Raw: d.withHeader(line)}
			}
			rec.SetTime(c.field, time.Unix(n, 0).UTC())
		}
	}
	switch {
	case rec.Has(interflow.TStart):
		rec.Copy(interflow.FTimestamp, interflow.TStart)
	case rec.Has(interflow.TEnd):
		rec.Copy(interflow.FTimestamp, interflow.TEnd)
	case !d.delivery.IsZero():
		// A custom format without start or end: the delivery time is the
		// best time there is (flows are delivered within minutes).
		rec.SetTime(interflow.FTimestamp, d.delivery)
	default:
		return &format.RecordError{Reason: "the record has no start or end time and the object no delivery time: include start in the flow log format", Raw: d.withHeader(line)}
	}
	if !rec.Has(interflow.FAccountID) {
		rec.SetString(interflow.FAccountID, d.acct)
	}
	if !rec.Has(interflow.FRegion) {
		rec.SetString(interflow.FRegion, d.region)
	}
	rec.SetBytes(interflow.FRaw, line)
	return nil
}

// withHeader makes a quarantined line self-contained, so a retry can parse
// it on its own.
func (d *Decoder) withHeader(line []byte) []byte {
	return []byte(d.Header() + "\n" + string(line))
}

// ProtoName names an IANA protocol number.
func ProtoName(n int64) string {
	switch n {
	case 1:
		return "icmp"
	case 2:
		return "igmp"
	case 4:
		return "ipip"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 41:
		return "ipv6"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 58:
		return "icmpv6"
	case 88:
		return "eigrp"
	case 89:
		return "ospf"
	case 103:
		return "pim"
	case 112:
		return "vrrp"
	case 132:
		return "sctp"
	}
	return "proto-" + strconv.FormatInt(n, 10)
}

// FlagNames names the TCP flags in a flow log tcp-flags bitmask.
func FlagNames(n int64) string {
	var names []string
	for _, f := range []struct {
		bit  int64
		name string
	}{{1, "FIN"}, {2, "SYN"}, {4, "RST"}, {8, "PSH"}, {16, "ACK"}, {32, "URG"}} {
		if n&f.bit != 0 {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ",")
}

// parquetRows reads a spooled Parquet object row by row.
type parquetRows struct {
	file  *os.File
	r     *parquet.Reader
	names []string
	buf   []parquet.Row
	i, n  int
	line  []byte
}

func openParquet(r io.Reader, dir string) (*parquetRows, error) {
	f, err := os.CreateTemp(dir, "trawl-parquet-*")
	if err != nil {
		return nil, fmt.Errorf("spool Parquet object: %w", err)
	}
	_ = os.Remove(f.Name()) // unlinked: the space is freed on close, even after a crash
	size, err := io.Copy(f, r)
	if err != nil {
		f.Close()
		return nil, err // a read error from the store: retried
	}
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		f.Close()
		return nil, &format.ObjectError{Reason: "corrupt Parquet object", Err: err}
	}
	var names []string
	for _, path := range pf.Schema().Columns() {
		names = append(names, path[len(path)-1])
	}
	return &parquetRows{file: f, r: parquet.NewReader(pf), names: names, buf: make([]parquet.Row, 256)}, nil
}

func (p *parquetRows) next() (line []byte, err error) {
	defer func() {
		// parquet-go panics on some malformed pages; that is bad input.
		if rec := recover(); rec != nil {
			line, err = nil, &format.ObjectError{Reason: fmt.Sprintf("corrupt Parquet object: %v", rec)}
		}
	}()
	if p.i >= p.n {
		n, err := p.r.ReadRows(p.buf)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, &format.ObjectError{Reason: "corrupt Parquet object", Err: err}
		}
		p.i, p.n = 0, n
	}
	row := p.buf[p.i]
	p.i++
	vals := make([]string, len(p.names))
	for i := range vals {
		vals[i] = "-"
	}
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(vals) || v.IsNull() {
			continue
		}
		switch v.Kind() {
		case parquet.ByteArray, parquet.FixedLenByteArray:
			s := string(v.ByteArray())
			if s == "" {
				s = "-"
			}
			vals[c] = strings.ReplaceAll(s, " ", "_")
		case parquet.Int32:
			vals[c] = strconv.FormatInt(int64(v.Int32()), 10)
		case parquet.Int64:
			vals[c] = strconv.FormatInt(v.Int64(), 10)
		default:
			vals[c] = v.String()
		}
	}
	p.line = append(p.line[:0], strings.Join(vals, " ")...)
	return p.line, nil
}

func (p *parquetRows) close() error { return p.file.Close() }

// SkipReason reports objects under a flow log prefix that hold no flow
// records: the delivery check AWS writes, and other services' folders.
func SkipReason(key string) string {
	switch {
	case strings.HasSuffix(key, "/"):
		return "a folder marker"
	case strings.Contains(key, "ConfigWritabilityCheckFile") || strings.HasSuffix(key, "aws-logs-write-test"):
		return "AWS's bucket write check, no records"
	}
	return ""
}

// splitFields splits a line at runs of spaces and tabs, reusing out.
func splitFields(out [][]byte, line []byte) [][]byte {
	if bytes.IndexByte(line, '\t') < 0 {
		// Fields apart by spaces (AWS's own): IndexByte finds each in
		// a few instructions where a byte loop mispredicted a branch at
		// every field's end.
		for len(line) > 0 {
			i := bytes.IndexByte(line, ' ')
			if i < 0 {
				return append(out, line)
			}
			if i > 0 {
				out = append(out, line[:i])
			}
			line = line[i+1:]
		}
		return out
	}
	start := -1
	for i, c := range line {
		if c == ' ' || c == '\t' {
			if start >= 0 {
				out = append(out, line[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, line[start:])
	}
	return out
}

// parseInt reads a decimal integer (optionally negative) without
// allocating.
func parseInt(b []byte) (int64, bool) {
	if len(b) > 18 {
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// setIP stores an address: the line's own bytes when they are already in
// canonical form (dotted IPv4 as AWS writes it), else the normalized text.
func setIP(rec *interflow.Record, field int, f []byte) bool {
	if a, err := netip.ParseAddr(unsafe.String(&f[0], len(f))); err == nil && a.Is4() {
		rec.SetBytes(field, f) // ParseAddr accepts only canonical IPv4
		return true
	}
	ip, ok := format.NormalizeIP(string(f))
	if ok {
		rec.SetString(field, ip)
	}
	return ok
}
