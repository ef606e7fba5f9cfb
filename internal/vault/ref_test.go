package vault

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	name128 := strings.Repeat("n", MaxNameBytes)
	good := []struct {
		in   string
		want Ref
	}{
		{"global/openai_api_key", Ref{"global", "openai_api_key"}},
		{"vault://global/openai_api_key", Ref{"global", "openai_api_key"}},
		{"user:alice/gh_token", Ref{"user:alice", "gh_token"}},
		{"device:01JABCDEFGHJKMNPQRSTVWXYZ0/k", Ref{"device:01JABCDEFGHJKMNPQRSTVWXYZ0", "k"}},
		{"connector:slack/bot", Ref{"connector:slack", "bot"}},
		{"tool:http.fetch/key", Ref{"tool:http.fetch", "key"}},
		{"vault://tool:http.fetch/key", Ref{"tool:http.fetch", "key"}},
		{"user:Alice-B_c.D/Mixed.Case-Key_9", Ref{"user:Alice-B_c.D", "Mixed.Case-Key_9"}},
		{"global/a.b", Ref{"global", "a.b"}},
		{"global/.env", Ref{"global", ".env"}},
		{"global/" + name128, Ref{"global", name128}},
		{"user:" + name128 + "/k", Ref{"user:" + name128, "k"}},
	}
	for _, tc := range good {
		t.Run("good/"+tc.in, func(t *testing.T) {
			got, err := ParseRef(tc.in)
			if err != nil {
				t.Fatalf("ParseRef: %v", err)
			}
			if got != tc.want {
				t.Fatalf("ParseRef = %+v, want %+v", got, tc.want)
			}
			if again, err := ParseRef(got.String()); err != nil || again != got {
				t.Fatalf("ParseRef(String()) = %+v, %v", again, err)
			}
			if strings.HasPrefix(got.String(), RefPrefix) {
				t.Fatalf("String() = %q keeps the prefix", got.String())
			}
		})
	}

	bad := []string{
		"",
		"/",
		"global",
		"global/",
		"/key",
		"global//k",
		"global/k/",
		"global/a/b",
		"/global/k",
		"Global/k",
		"GLOBAL/k",
		"User:alice/k",
		"USER:alice/k",
		"user/k",
		"user:/k",
		"user:al:ice/k",
		"group:x/k",
		"global:x/k",
		":x/k",
		"global/k\x00",
		"global/\x00",
		"user:a\x00/k",
		"global/k ",
		" global/k",
		"global/ k",
		"global /k",
		"global/k\n",
		"global/k\t",
		"global/a..b",
		"global/..",
		"global/...",
		"user:../k",
		"user:a..b/k",
		"global/" + name128 + "n",
		"user:" + name128 + "n/k",
		"vault://",
		"vault:///k",
		"vault://vault://global/k",
		"VAULT://global/k",
		"vault:/global/k",
		"vault:global/k",
		"global/kéy",
		"user:ålice/k",
		"global/k#1",
		"global/%2e%2e",
		"global\\k",
		"global/k\\x",
		"global/k\r\n",
	}
	for _, in := range bad {
		t.Run("bad/"+in, func(t *testing.T) {
			got, err := ParseRef(in)
			if !errors.Is(err, ErrInvalidRef) {
				t.Fatalf("ParseRef(%q) = (%+v, %v), want ErrInvalidRef", in, got, err)
			}
			if got != (Ref{}) {
				t.Fatalf("ParseRef(%q) returned %+v with an error", in, got)
			}
		})
	}
}

func TestParseRefErrorDoesNotEchoInput(t *testing.T) {
	for _, in := range []string{"sk-live-NOTAREFBUTASECRET", "global/sk live SECRET", "user:sk live SECRET/k"} {
		_, err := ParseRef(in)
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("ParseRef(%q) error %v", in, err)
		}
	}
}

func TestValidScope(t *testing.T) {
	for _, s := range []string{"global", "user:alice", "device:01JABCDEFGHJKMNPQRSTVWXYZ0", "connector:slack", "tool:http.fetch", "user:" + strings.Repeat("a", MaxNameBytes)} {
		if err := ValidScope(s); err != nil {
			t.Errorf("ValidScope(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "Global", "global ", "global:", "user", "user:", "user:a/b", "user:a:b", "users:a", "tool:..", "device:a..b", "user:" + strings.Repeat("a", MaxNameBytes+1), "user:a\x00", "user: a"} {
		if err := ValidScope(s); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("ValidScope(%q) = %v, want ErrInvalidRef", s, err)
		}
	}
}

// A device scope names a device by its canonical id only: one device, one
// scope. The error describes the id, never quotes it.
func TestValidScopeDeviceIDCanonical(t *testing.T) {
	for _, s := range []string{
		"device:01jabcdefghjkmnpqrstvwxyz0", // lower case
		"device:01JABCDEFGHJKMNPQRSTVWXYz0", // one lower-case letter
		"device:01J9Z",                      // too short
		"device:laptop",                     // a name, not an id
		"device:81JABCDEFGHJKMNPQRSTVWXYZ0", // overflows 128 bits
		"device:01JABCDEFGHJKMNPQRSTVWXYZU", // U is not Crockford base32
	} {
		err := ValidScope(s)
		if !errors.Is(err, ErrInvalidRef) {
			t.Errorf("ValidScope(%q) = %v, want ErrInvalidRef", s, err)
			continue
		}
		if name := strings.TrimPrefix(s, "device:"); strings.Contains(err.Error(), name) {
			t.Errorf("ValidScope(%q): error quotes the input: %v", s, err)
		}
		if _, err := ParseRef(s + "/k"); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("ParseRef(%q) = %v, want ErrInvalidRef", s+"/k", err)
		}
	}
}

func TestParseVersionedRef(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ref     Ref
		version int64
	}{
		{"global/k", Ref{"global", "k"}, 0},
		{"global/k#1", Ref{"global", "k"}, 1},
		{"vault://user:alice/gh_token#42", Ref{"user:alice", "gh_token"}, 42},
		{"global/k#9223372036854775807", Ref{"global", "k"}, 1<<63 - 1},
	} {
		ref, version, err := ParseVersionedRef(tc.in)
		if err != nil || ref != tc.ref || version != tc.version {
			t.Errorf("ParseVersionedRef(%q) = (%+v, %d, %v), want (%+v, %d)", tc.in, ref, version, err, tc.ref, tc.version)
		}
	}
	for _, in := range []string{"global/k#", "global/k#0", "global/k#01", "global/k#-1", "global/k#+1", "global/k#1a", "global/k# 1",
		"global/k#9223372036854775808", "global/k#1#2", "global/#1", "#1", "global/k #1"} {
		if ref, version, err := ParseVersionedRef(in); !errors.Is(err, ErrInvalidRef) || ref != (Ref{}) || version != 0 {
			t.Errorf("ParseVersionedRef(%q) = (%+v, %d, %v), want ErrInvalidRef", in, ref, version, err)
		}
	}
}

func TestDirectlyBuiltRefIsValidated(t *testing.T) {
	for _, r := range []Ref{{}, {"global", ""}, {"", "k"}, {"global", "a/b"}, {"global/a", "b"}, {"user:a/b", "c"}, {"global", "k\x00"}} {
		if err := r.Validate(); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("Ref%+v.Validate() = %v, want ErrInvalidRef", r, err)
		}
	}
}

// FuzzParseRef checks that ParseRef never panics, that what it accepts is
// valid and canonical (its String form is the input without the prefix), and
// that what it rejects is ErrInvalidRef.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"global/openai_api_key", "vault://user:alice/gh_token", "device:01JABCDEFGHJKMNPQRSTVWXYZ0/k", "connector:slack/bot",
		"tool:http.fetch/key", "global//k", "User:a/k", "global/a..b", "global/k#1", "vault://vault://global/k",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRef) || r != (Ref{}) {
				t.Fatalf("ParseRef(%q) = (%+v, %v)", s, r, err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRef(%q) accepted an invalid ref: %v", s, err)
		}
		if r.String() != strings.TrimPrefix(s, RefPrefix) {
			t.Fatalf("ParseRef(%q).String() = %q: not canonical", s, r.String())
		}
		if again, err := ParseRef(r.String()); err != nil || again != r {
			t.Fatalf("ParseRef(String()) = (%+v, %v), want %+v", again, err, r)
		}
		if strings.ContainsAny(r.Key, "/:\x00 ") || strings.Count(r.Scope, ":") > 1 {
			t.Fatalf("ParseRef(%q) = %+v", s, r)
		}
	})
}
