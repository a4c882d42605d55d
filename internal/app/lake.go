package app

import (
	"github.com/trawlhq/trawl/internal/lake"

	"github.com/trawlhq/trawl/internal/collect"
	"github.com/trawlhq/trawl/internal/format"
)

// NotReadyError says what the lake lacks to serve (Ready): a folder gone
// or not writable, or a catalog that does not answer.
type NotReadyError = lake.NotReadyError

// ErrLocked means another process (normally `trawl serve`) holds the data
// directory.
var ErrLocked = lake.ErrLocked

// RedactCatalog is a catalog location with its password masked, for logs,
// errors and flag defaults.
func RedactCatalog(s string) string { return lake.RedactCatalog(s) }

// CollectOptions tune a run (App.RunConnector, Options.Collect), and
// CollectStats are its running totals (CollectOptions.Progress): named
// here so that the CLI, which talks only to app, needs no collect.
type (
	CollectOptions = collect.Options
	CollectStats   = collect.Stats
)

// DefaultLimits are the decompression limits a run has unless told
// otherwise (the base the CLI's --max-* flags change).
func DefaultLimits() format.Limits { return format.DefaultLimits() }
