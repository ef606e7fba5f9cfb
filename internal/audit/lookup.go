package audit

import (
	"context"
	"fmt"
)

// LatestCount returns the record count of the latest signed checkpoint (0
// when there is none) without copying the note, for callers that refresh a
// cached Latest only when it changes. It reads memory only.
func (j *Journal) LatestCount() int64 {
	if lc := j.latest.Load(); lc != nil {
		return lc.c.Count
	}
	return 0
}

// Head returns the Seq of the last committed record (0 when empty). It
// reads memory only.
func (j *Journal) Head() int64 { return j.committed.Load() }

// outcomeHorizon bounds how far after a decision OutcomeOf looks: an
// outcome is appended right after its action, so it lies within the records
// other requests appended meanwhile.
const outcomeHorizon = 10 * MaxListLimit

// OutcomeOf returns the outcome record linked to the decision at
// decisionSeq, or an error wrapping ErrNotFound when none was recorded
// within the next outcomeHorizon records (the action was denied, is still
// running, or the daemon stopped before recording it).
func (j *Journal) OutcomeOf(ctx context.Context, decisionSeq int64) (Record, error) {
	after := decisionSeq
	for after < decisionSeq+outcomeHorizon {
		recs, err := j.List(ctx, Filter{AfterSeq: after, Limit: MaxListLimit})
		if err != nil {
			return Record{}, err
		}
		for _, r := range recs {
			if r.Kind == KindOutcome && r.DecisionSeq == decisionSeq {
				return r, nil
			}
		}
		if len(recs) < MaxListLimit {
			break
		}
		after = recs[len(recs)-1].Seq
	}
	return Record{}, fmt.Errorf("audit: outcome of record %d: %w", decisionSeq, ErrNotFound)
}
