package main

import (
	"fmt"
	"strings"
	"time"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
)

// parseSince reads --since: an RFC 3339 time, or a Go duration meaning that
// long before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("--since %q: want an RFC 3339 time (2026-11-30T09:00:00Z) or a duration (90m)", s)
}

// recordJSON is a record as palyra prints it with --json.
func recordJSON(r *palyrav1.AuditRecord) map[string]any {
	m := map[string]any{
		"seq":  r.Seq,
		"time": time.Unix(0, r.TimeUnixNano).UTC().Format(time.RFC3339Nano),
		"kind": r.Kind,
	}
	if r.Kind == "outcome" {
		m["decision_seq"] = r.DecisionSeq
		m["outcome"] = r.Outcome
		if r.Version != 0 {
			m["version"] = r.Version
		}
		if r.Reason != "" {
			m["reason"] = r.Reason
		}
		if len(r.Details) > 0 {
			m["details"] = r.Details
		}
		return m
	}
	m["principal"] = r.Principal
	m["action"] = r.Action
	m["resource"] = r.Resource
	m["decision"] = r.Decision
	m["policies"] = nonNil(r.Policies)
	m["obligations"] = nonNil(r.Obligations)
	m["transport"] = r.Transport
	m["reason"] = r.Reason
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// recordLine is a record as one line of text.
func recordLine(r *palyrav1.AuditRecord) string {
	t := time.Unix(0, r.TimeUnixNano).UTC().Format(time.RFC3339)
	if r.Kind == "outcome" {
		s := fmt.Sprintf("%d\t%s\toutcome of %d: %s", r.Seq, t, r.DecisionSeq, r.Outcome)
		if r.Version != 0 {
			s += fmt.Sprintf(" (version %d)", r.Version)
		}
		if r.Reason != "" {
			s += " " + r.Reason
		}
		if len(r.Details) > 0 {
			s += " [" + strings.Join(r.Details, " ") + "]"
		}
		return s
	}
	s := fmt.Sprintf("%d\t%s\t%s\t%s %s on %s (%s", r.Seq, t, r.Decision, r.Principal, r.Action, r.Resource, r.Transport)
	if len(r.Policies) > 0 {
		s += "; " + strings.Join(r.Policies, ",")
	}
	return s + "; " + r.Reason + ")"
}
