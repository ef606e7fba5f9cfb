package daemon

import (
	"testing"

	"github.com/palyra/palyra/internal/audit"
	"github.com/palyra/palyra/internal/config"
)

// The configuration may not allow a checkpoint cadence the journal would
// refuse (or read, after a crash, as removed checkpoints).
func TestCheckpointBoundsAgree(t *testing.T) {
	if config.MaxCheckpointEvery != audit.MaxCheckpointEvery {
		t.Fatalf("config allows checkpoint_every up to %d, the journal %d", config.MaxCheckpointEvery, audit.MaxCheckpointEvery)
	}
}
