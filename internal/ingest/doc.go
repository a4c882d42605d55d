// Package ingest is the vocabulary the collector, the segment engine and
// the catalog pass each other, and nothing else: a Batch of collected
// rows with the checkpoint it advances to and the input it quarantined,
// the lease it was collected under, the Segment descriptors a commit
// writes and registers, the timings of ingest's stages, and the errors a
// commit fails with. It holds no storage, so the collector and the audit
// speak it without linking the catalog's databases or the Parquet writer.
package ingest
