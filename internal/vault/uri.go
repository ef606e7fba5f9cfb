package vault

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxURIBytes bounds the text of a reference URI: the prefix, the longest
// scope ("connector:" and a name), '/', the longest key, '#' and the
// longest version (19 digits).
const MaxURIBytes = len(RefPrefix) + len("connector:") + MaxNameBytes + 1 + MaxNameBytes + 1 + 19

// ParseURI parses a secret reference URI, "vault://SCOPE/KEY" for the
// latest version or "vault://SCOPE/KEY#N" for version N (version 0 means
// the latest). It is the one parser of references written as URIs (palyra
// run --env NAME=vault://...): the "vault://" prefix is required, and the
// rest is ParseVersionedRef's strict form, so an accepted URI is exactly
// URI(ref, version) — there is one spelling of each reference. Errors wrap
// ErrInvalidRef and never echo the input.
func ParseURI(s string) (ref Ref, version int64, err error) {
	if len(s) > MaxURIBytes {
		return Ref{}, 0, fmt.Errorf("%w: a reference is at most %d bytes, got %d", ErrInvalidRef, MaxURIBytes, len(s))
	}
	rest, ok := strings.CutPrefix(s, RefPrefix)
	if !ok {
		return Ref{}, 0, fmt.Errorf("%w: want %sSCOPE/KEY[#N]", ErrInvalidRef, RefPrefix)
	}
	// ParseVersionedRef would strip a second prefix ("vault://vault://...").
	if strings.HasPrefix(rest, RefPrefix) {
		return Ref{}, 0, fmt.Errorf("%w: %s given twice", ErrInvalidRef, RefPrefix)
	}
	return ParseVersionedRef(rest)
}

// URI is the canonical text of a reference: "vault://SCOPE/KEY", with
// "#N" when version is above 0. ParseURI(URI(r, v)) gives r and v back.
func URI(r Ref, version int64) string {
	if version > 0 {
		return RefPrefix + r.String() + "#" + strconv.FormatInt(version, 10)
	}
	return RefPrefix + r.String()
}
