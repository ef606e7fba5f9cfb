package config

import (
	"errors"
	"fmt"
	"time"
)

// SyncMode is the value of audit.sync: when the audit journal makes appended
// records durable.
type SyncMode string

// The values of audit.sync.
const (
	// SyncWindow groups the records appended within audit.sync_window of
	// each other into one synchronous commit, so one fsync covers many
	// records. The default.
	SyncWindow SyncMode = "window"
	// SyncAlways commits every append on its own, without waiting for
	// others.
	SyncAlways SyncMode = "always"
)

// Defaults and bounds of the [audit] table. Bounds are inclusive.
const (
	// DefaultSyncWindow is the default audit.sync_window.
	DefaultSyncWindow = 10 * time.Millisecond
	// MinSyncWindow is the smallest audit.sync_window.
	MinSyncWindow = time.Millisecond
	// MaxSyncWindow is the largest audit.sync_window.
	MaxSyncWindow = time.Second

	// DefaultCheckpointInterval is the default audit.checkpoint_interval.
	DefaultCheckpointInterval = time.Second
	// MinCheckpointInterval is the smallest audit.checkpoint_interval.
	MinCheckpointInterval = 100 * time.Millisecond
	// MaxCheckpointInterval is the largest audit.checkpoint_interval.
	MaxCheckpointInterval = time.Hour

	// DefaultCheckpointEvery is the default audit.checkpoint_every.
	DefaultCheckpointEvery = 1024
	// MinCheckpointEvery is the smallest audit.checkpoint_every.
	MinCheckpointEvery = 1
	// MaxCheckpointEvery is the largest audit.checkpoint_every.
	MaxCheckpointEvery = 4096 // audit.MaxCheckpointEvery: a longer uncovered tail is read as removed checkpoints
)

// Audit is the [audit] table: how the audit journal trades commit latency
// for fsyncs, and how often it signs a checkpoint. The audit package
// defines the exact guarantees; these are its settings.
//
//	[audit]
//	sync                = "window"  # or "always"
//	sync_window         = "10ms"    # 1ms..1s
//	checkpoint_interval = "1s"      # 100ms..1h
//	checkpoint_every    = 1024      # 1..4096
type Audit struct {
	// Sync (sync) is SyncWindow (default) or SyncAlways.
	Sync SyncMode `toml:"sync"`
	// SyncWindow (sync_window) is how long, with sync = "window", appends are
	// gathered into one commit, in [MinSyncWindow, MaxSyncWindow]
	// (default DefaultSyncWindow). It is checked whatever Sync is.
	SyncWindow Duration `toml:"sync_window"`
	// CheckpointInterval (checkpoint_interval) is the longest time between
	// signed checkpoints while records are being appended, in
	// [MinCheckpointInterval, MaxCheckpointInterval] (default
	// DefaultCheckpointInterval).
	CheckpointInterval Duration `toml:"checkpoint_interval"`
	// CheckpointEvery (checkpoint_every) is the largest number of records
	// appended between signed checkpoints, in [MinCheckpointEvery,
	// MaxCheckpointEvery] (default DefaultCheckpointEvery). A checkpoint
	// is due when either limit is reached.
	CheckpointEvery int `toml:"checkpoint_every"`
}

func defaultAudit() Audit {
	return Audit{
		Sync:               SyncWindow,
		SyncWindow:         Duration(DefaultSyncWindow),
		CheckpointInterval: Duration(DefaultCheckpointInterval),
		CheckpointEvery:    DefaultCheckpointEvery,
	}
}

func (a Audit) validate() error {
	var errs []error
	if a.Sync != SyncWindow && a.Sync != SyncAlways {
		errs = append(errs, fmt.Errorf("config: audit.sync %q: want %q or %q", a.Sync, SyncWindow, SyncAlways))
	}
	errs = append(errs,
		checkRange("audit.sync_window", a.SyncWindow, MinSyncWindow, MaxSyncWindow),
		checkRange("audit.checkpoint_interval", a.CheckpointInterval, MinCheckpointInterval, MaxCheckpointInterval),
	)
	if a.CheckpointEvery < MinCheckpointEvery || a.CheckpointEvery > MaxCheckpointEvery {
		errs = append(errs, fmt.Errorf("config: audit.checkpoint_every %d out of range [%d, %d]", a.CheckpointEvery, MinCheckpointEvery, MaxCheckpointEvery))
	}
	return errors.Join(errs...)
}
