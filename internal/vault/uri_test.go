package vault

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	name128 := strings.Repeat("n", MaxNameBytes)
	good := []struct {
		in      string
		ref     Ref
		version int64
	}{
		{"vault://global/openai_api_key", Ref{"global", "openai_api_key"}, 0},
		{"vault://global/openai_api_key#3", Ref{"global", "openai_api_key"}, 3},
		{"vault://user:alice/gh_token#9223372036854775807", Ref{"user:alice", "gh_token"}, 1<<63 - 1},
		{"vault://device:01JABCDEFGHJKMNPQRSTVWXYZ0/k", Ref{"device:01JABCDEFGHJKMNPQRSTVWXYZ0", "k"}, 0},
		{"vault://connector:" + name128 + "/" + name128 + "#1000000000000000000", Ref{"connector:" + name128, name128}, 1e18},
	}
	for _, tc := range good {
		ref, v, err := ParseURI(tc.in)
		if err != nil || ref != tc.ref || v != tc.version {
			t.Errorf("ParseURI(%q) = %v, %d, %v; want %v, %d", tc.in, ref, v, err, tc.ref, tc.version)
			continue
		}
		if s := URI(ref, v); s != tc.in {
			t.Errorf("URI(ParseURI(%q)) = %q", tc.in, s)
		}
	}
	bad := []string{
		"", "global/k", "vault:/global/k", "VAULT://global/k", "vault://", "vault://global",
		"vault://vault://global/k", "vault://global/k#", "vault://global/k#0", "vault://global/k#01",
		"vault://global/k#-1", "vault://global/k#+1", "vault://global/k#9223372036854775808",
		"vault://global/k#1#2", "vault://global/a/b", "vault://global/..", "vault://global/k ",
		" vault://global/k", "vault://Global/k", "vault://device:01jabcdefghjkmnpqrstvwxyz0/k",
		"vault://global/" + name128 + "x", "vault://global/sk-secret value",
	}
	for _, in := range bad {
		_, _, err := ParseURI(in)
		if !errors.Is(err, ErrInvalidRef) {
			t.Errorf("ParseURI(%q) = %v, want ErrInvalidRef", in, err)
			continue
		}
		if len(in) > 12 && strings.Contains(err.Error(), in[8:]) {
			t.Errorf("ParseURI(%q): error %q echoes the input", in, err)
		}
	}
}

// FuzzParseURI: no panic; an accepted URI is within MaxURIBytes, its
// parts are valid, and it is its own canonical form (URI round trip);
// a rejected one wraps ErrInvalidRef.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"vault://global/openai_api_key", "vault://global/k#12", "vault://user:alice/gh_token",
		"vault://device:01JABCDEFGHJKMNPQRSTVWXYZ0/k#1", "vault://tool:http.fetch/key", "global/k",
		"vault://global/k#0", "vault://vault://global/k", "vault://global/a..b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, v, err := ParseURI(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRef) {
				t.Fatalf("ParseURI(%q): %v does not wrap ErrInvalidRef", s, err)
			}
			return
		}
		if len(s) > MaxURIBytes || v < 0 || len(ref.Key) > MaxNameBytes || len(ref.Scope) > len("connector:")+MaxNameBytes {
			t.Fatalf("ParseURI(%q) = %v, %d: limits exceeded", s, ref, v)
		}
		if err := ref.Validate(); err != nil {
			t.Fatalf("ParseURI(%q) accepted an invalid ref: %v", s, err)
		}
		if got := URI(ref, v); got != s {
			t.Fatalf("URI(ParseURI(%q)) = %q", s, got)
		}
		if r2, v2, err := ParseURI(URI(ref, v)); err != nil || r2 != ref || v2 != v {
			t.Fatalf("round trip of %q: %v %d %v", s, r2, v2, err)
		}
	})
}
