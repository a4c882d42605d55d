package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/connector"
	"github.com/trawlhq/trawl/internal/interflow"
)

// Export formats.
const (
	ExportCSV    = "csv"
	ExportNDJSON = "ndjson"
)

// exportPage is how many records each query of an export reads: memory
// stays bounded by a page whatever the result's size.
const exportPage = 2000

// ExportColumns are the columns of a CSV export of some indices (all when
// none): every field of their schemas, those the indices share first.
func ExportColumns(indices []string) []string {
	want := map[string]bool{}
	for _, ix := range indices {
		want[ix] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range interflow.Schemas() {
		if len(want) > 0 && !want[s.Index] {
			continue
		}
		for _, f := range s.Fields {
			if !seen[f.Name] {
				seen[f.Name] = true
				out = append(out, f.Name)
			}
		}
	}
	return out
}

// Export streams every record matching req, newest first, to w as CSV
// (RFC 4180, a header row, nested values as JSON, every cell quoted and
// neutralised by CSVField; columns default to ExportColumns) or NDJSON
// (exact), a page of records at a time, in the caller's
// tenant scope. flush, if set, is called after each page. It returns the
// number of records written.
func (a *App) Export(ctx context.Context, sc Scope, tenant string, req apiv1.SearchRequest, format string, columns []string, w io.Writer, flush func()) (int64, error) {
	if format != ExportCSV && format != ExportNDJSON {
		return 0, &connector.ValidationError{Problems: []connector.Problem{{Field: "format", Message: fmt.Sprintf("%q: give csv or ndjson", format)}}}
	}
	if len(columns) == 0 {
		columns = ExportColumns(req.Indices)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	out := newRowWriter(bw, format, columns)
	if err := out.header(); err != nil {
		return 0, err
	}
	var n int64
	req.Limit = exportPage
	for {
		res, err := a.Search(ctx, sc, tenant, req)
		if err != nil {
			return n, err
		}
		for _, r := range res.Rows {
			if err := out.row(r); err != nil {
				return n, err
			}
			n++
		}
		if err := out.flush(); err != nil {
			return n, err
		}
		if err := bw.Flush(); err != nil {
			return n, err
		}
		if flush != nil {
			flush()
		}
		if res.Next == nil || len(res.Rows) == 0 {
			return n, nil
		}
		req.Before = res.Next
	}
}

// WriteRows writes rows in an export format (a page the caller holds).
func WriteRows(w io.Writer, format string, columns []string, rows []apiv1.Row) error {
	rw := newRowWriter(w, format, columns)
	if err := rw.header(); err != nil {
		return err
	}
	for _, r := range rows {
		if err := rw.row(r); err != nil {
			return err
		}
	}
	return rw.flush()
}

// rowWriter writes records in an export format.
type rowWriter struct {
	format  string
	columns []string
	csv     io.Writer
	json    *json.Encoder
	line    []byte // the CSV row being built, reused
}

func newRowWriter(w io.Writer, format string, columns []string) *rowWriter {
	rw := &rowWriter{format: format, columns: columns}
	if format == ExportCSV {
		rw.csv = w
	} else {
		rw.json = json.NewEncoder(w)
		rw.json.SetEscapeHTML(false)
	}
	return rw
}

func (rw *rowWriter) header() error {
	if rw.csv == nil {
		return nil
	}
	rw.line = rw.line[:0]
	for i, c := range rw.columns {
		rw.line = appendCSVField(rw.line, i, c)
	}
	return rw.writeLine()
}

func (rw *rowWriter) row(r apiv1.Row) error {
	if rw.csv == nil {
		return rw.json.Encode(r)
	}
	rw.line = rw.line[:0]
	for i, c := range rw.columns {
		rw.line = appendCSVField(rw.line, i, cell(r[c]))
	}
	return rw.writeLine()
}

func (rw *rowWriter) writeLine() error {
	rw.line = append(rw.line, '\r', '\n') // RFC 4180
	if _, err := rw.csv.Write(rw.line); err != nil {
		return fmt.Errorf("write CSV row: %w", err)
	}
	return nil
}

func (rw *rowWriter) flush() error { return nil }

// appendCSVField appends the i-th field of a CSV row.
func appendCSVField(line []byte, i int, text string) []byte {
	if i > 0 {
		line = append(line, ',')
	}
	return append(line, CSVField(text)...)
}

// CSVField is text as one CSV cell, the one encoding every CSV export
// uses: always quoted (RFC 4180, a quote doubled), and, when it starts
// with =, +, -, @, a tab or a carriage return, prefixed with a single
// quote, which is how OWASP advises neutralising CSV injection: a
// spreadsheet would otherwise run a logged value such as a userAgent of
// =HYPERLINK(...) as a formula when the file is opened. The cell then
// reads with the quote in front; NDJSON exports stay exact.
func CSVField(text string) string {
	if text != "" && strings.ContainsRune("=+-@\t\r", rune(text[0])) {
		text = "'" + text
	}
	return `"` + strings.ReplaceAll(text, `"`, `""`) + `"`
}

// cell is a value as CSV text: text as it is, numbers and booleans in
// Go's notation, times in RFC 3339 (UTC), anything nested as JSON.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
