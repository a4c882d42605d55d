// Package catalog is Trawl's transactional state, in the embedded DuckDB
// file of the data directory or in a shared PostgreSQL database (catdb.go
// writes each statement once for both): tenants and their external IDs,
// connectors with sealed secrets, object checkpoints and partition
// watermarks, runs, quarantine, API tokens, the actor log, digest audit
// results and public keys, saved searches, detection rules, alerts and
// webhooks, nodes and partition leases, the binding of a data directory to
// its catalog, the catalog's migrations, and the registry of segments:
// the rows naming the segment files that make up the lake, as DuckLake's
// catalog holds its file list (registry.go). A commit (Register) checks
// its leases, registers the segments its rows were written to, stores the
// quarantined input and advances the checkpoints in one transaction.
// Segment files themselves are internal/segment's; the two meet in
// internal/app.
package catalog
