package audit

import (
	"fmt"
	"log/slog"
	"time"
)

// SyncMode says when an Append waits for the fsync that makes its record
// survive power loss. Every mode commits each record before Append returns,
// so a committed record survives the daemon being killed (kill -9) in all
// of them; see docs/audit-format.md, section 7.
type SyncMode uint8

const (
	// SyncWindow (the default): Append returns after the commit, and the
	// journal fsyncs what was committed within Options.SyncWindow of the
	// first unsynced commit, one fsync for everything committed meanwhile.
	// AppendDurable still waits for an fsync.
	SyncWindow SyncMode = iota
	// SyncAlways: every Append waits for an fsync that covers its record,
	// as AppendDurable does. Concurrent appends share fsyncs.
	SyncAlways
)

// String returns "window" or "always".
func (m SyncMode) String() string {
	switch m {
	case SyncWindow:
		return "window"
	case SyncAlways:
		return "always"
	}
	return fmt.Sprintf("syncmode(%d)", uint8(m))
}

// MaxCheckpointEvery is the largest CheckpointEvery. It bounds how many
// records a crash can leave after the latest checkpoint, and so lets Open
// and Verify tell such a tail from checkpoints that were removed.
const MaxCheckpointEvery = 4096

// MaxUncovered is the most records that may follow the latest checkpoint
// in a journal at rest: at most MaxCheckpointEvery records are committed
// uncovered, plus one batch. A longer tail means checkpoints were removed,
// and is reported as broken.
const MaxUncovered = MaxCheckpointEvery + maxBatch

// Defaults for the zero fields of Options.
const (
	DefaultSyncWindow         = 10 * time.Millisecond
	DefaultCheckpointEvery    = 1024
	DefaultCheckpointInterval = time.Second
)

// MaxAsyncQueue is how many AppendAsync entries may wait for the writer;
// AppendAsync refuses more with ErrQueueFull rather than wait.
const MaxAsyncQueue = 1 << 16

// Options tune a Journal. The zero value means every default.
type Options struct {
	// Sync is SyncWindow (default) or SyncAlways.
	Sync SyncMode
	// SyncWindow is, in SyncWindow mode, the longest a committed record
	// waits for its fsync. Default DefaultSyncWindow (10ms).
	SyncWindow time.Duration
	// CheckpointEvery: a checkpoint is signed in the commit that leaves at
	// least this many records uncovered. Default DefaultCheckpointEvery
	// (1024); 1 signs one in every commit, as format 1 did.
	CheckpointEvery int
	// CheckpointInterval: a checkpoint is signed at most this long after
	// the first record it covers was committed, even if fewer than
	// CheckpointEvery records are uncovered. Default
	// DefaultCheckpointInterval (1s). Close always signs one.
	CheckpointInterval time.Duration
	// OnAsyncError receives the errors that no caller waits for: a failed
	// commit of an AppendAsync entry (or its refusal by the writer, e.g.
	// a DecisionSeq that is not an allowed decision) and a failed fsync
	// in SyncWindow mode. It is called from the journal's goroutines and
	// must not block or call back into the Journal. Default: log with
	// slog.Default at level Error.
	OnAsyncError func(error)
}

func (o Options) withDefaults() (Options, error) {
	if o.Sync > SyncAlways {
		return o, fmt.Errorf("audit: unknown sync mode %d", uint8(o.Sync))
	}
	if o.SyncWindow < 0 || o.CheckpointEvery < 0 || o.CheckpointInterval < 0 {
		return o, fmt.Errorf("audit: negative option")
	}
	if o.CheckpointEvery > MaxCheckpointEvery {
		return o, fmt.Errorf("audit: CheckpointEvery %d is more than %d", o.CheckpointEvery, MaxCheckpointEvery)
	}
	if o.SyncWindow == 0 {
		o.SyncWindow = DefaultSyncWindow
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.OnAsyncError == nil {
		o.OnAsyncError = func(err error) { slog.Default().Error("audit journal", "err", err) }
	}
	return o, nil
}
