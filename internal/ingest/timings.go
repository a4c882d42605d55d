package ingest

import (
	"sync/atomic"
	"time"
)

// Timings accumulate where ingest time goes, per stage, across workers
// (the benchmark's breakdown); a nil *Timings records nothing.
type Timings struct{ ns [numStages]atomic.Int64 }

// Ingest stages.
const (
	StageRead      = iota // source and gunzip
	StageDecode           // splitting records
	StageNormalize        // normalizing and filling columns
	StageEncode           // Parquet and token filters
	StageWrite            // writing and syncing files
	StageCommit           // the catalog transaction
	numStages
)

// Add records d in a stage.
func (t *Timings) Add(stage int, d time.Duration) {
	if t != nil {
		t.ns[stage].Add(int64(d))
	}
}

// Since records the time since start in a stage.
func (t *Timings) Since(stage int, start time.Time) {
	if t != nil {
		t.ns[stage].Add(int64(time.Since(start)))
	}
}

// Of returns a stage's total.
func (t *Timings) Of(stage int) time.Duration { return time.Duration(t.ns[stage].Load()) }
