package config

import (
	"fmt"
	"time"
)

// Default and bounds of approvals.wait.
const (
	// DefaultApprovalWait is the default approvals.wait.
	DefaultApprovalWait = 30 * time.Minute
	// MinApprovalWait and MaxApprovalWait bound approvals.wait.
	MinApprovalWait = time.Second
	MaxApprovalWait = 24 * time.Hour
)

// Approvals is the [approvals] table (docs/approvals.md).
//
//	[approvals]
//	wait = "30m"   # how long a request waits for a decision, 1s..24h
type Approvals struct {
	// Wait (wait) is how long a request that needs approval waits for a
	// decision before it expires and is denied, in [MinApprovalWait,
	// MaxApprovalWait] (default DefaultApprovalWait). A caller that gives
	// up earlier stops waiting; its request stays pending until then.
	Wait Duration `toml:"wait"`
}

func defaultApprovals() Approvals { return Approvals{Wait: Duration(DefaultApprovalWait)} }

func (a Approvals) validate() error {
	if w := time.Duration(a.Wait); w < MinApprovalWait || w > MaxApprovalWait {
		return fmt.Errorf("config: approvals.wait %v out of range [%v, %v]", w, MinApprovalWait, MaxApprovalWait)
	}
	return nil
}
