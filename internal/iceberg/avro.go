package iceberg

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Iceberg's manifests and manifest lists are Avro object container files.
// Trawl writes the few Avro types they need itself: no codec (readers such
// as icebird cannot inflate every deflate stream), one block per file, and
// only the types every Avro reader decodes (records, unions with null,
// arrays, int, long, string), no map or fixed.

// avroField is a field of an Avro record schema, with its Iceberg field
// id (readers project manifests by it).
type avroField struct {
	Name    string `json:"name"`
	Type    any    `json:"type"`
	FieldID int    `json:"field-id"`
	Default any    `json:"default,omitempty"`
}

type avroRecord struct {
	Type   string      `json:"type"` // "record"
	Name   string      `json:"name"`
	Fields []avroField `json:"fields"`
}

func record(name string, fields ...avroField) avroRecord {
	return avroRecord{Type: "record", Name: name, Fields: fields}
}

func optional(t any) any { return []any{"null", t} }

// avroDate is an int holding days since 1970-01-01.
func avroDate() map[string]string { return map[string]string{"type": "int", "logicalType": "date"} }

// enc appends Avro binary values.
type enc struct{ b []byte }

func (e *enc) long(v int64) { e.b = binary.AppendVarint(e.b, v) } // zigzag, as Avro's
func (e *enc) int(v int)    { e.long(int64(v)) }
func (e *enc) str(s string) { e.long(int64(len(s))); e.b = append(e.b, s...) }
func (e *enc) null()        { e.long(0) } // the null branch of ["null", T]
func (e *enc) some()        { e.long(1) } // the value branch of ["null", T]
func (e *enc) optLong(v int64) {
	e.some()
	e.long(v)
}
func (e *enc) optStr(s string) {
	e.some()
	e.str(s)
}

// writeContainer writes an Avro object container file: the header (the
// schema, the metadata, a sync marker) and the records (count of them,
// already encoded in body) as one block.
func writeContainer(w io.Writer, schema avroRecord, meta map[string]string, count int, body []byte) error {
	js, err := json.Marshal(schema)
	if err != nil {
		return fmt.Errorf("avro schema %s: %w", schema.Name, err)
	}
	var sync [16]byte
	_, _ = rand.Read(sync[:])
	var h enc
	h.b = append(h.b, 'O', 'b', 'j', 1)
	h.long(int64(len(meta) + 2))
	h.str("avro.schema")
	h.str(string(js))
	h.str("avro.codec")
	h.str("null")
	for _, k := range sortedKeys(meta) {
		h.str(k)
		h.str(meta[k])
	}
	h.long(0)
	h.b = append(h.b, sync[:]...)
	if count > 0 {
		h.long(int64(count))
		h.long(int64(len(body)))
	}
	var buf bytes.Buffer
	buf.Write(h.b)
	if count > 0 {
		buf.Write(body)
		buf.Write(sync[:])
	}
	_, err = w.Write(buf.Bytes())
	return err
}
