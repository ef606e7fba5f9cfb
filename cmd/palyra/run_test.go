package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/palyra/palyra/internal/vault"
)

func TestParseEnvRefs(t *testing.T) {
	refs, err := parseEnvRefs([]string{"OPENAI_API_KEY=vault://global/openai_api_key", "_t2=vault://user:alice/gh_token#3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []envRef{
		{"OPENAI_API_KEY", vault.Ref{Scope: "global", Key: "openai_api_key"}, 0},
		{"_t2", vault.Ref{Scope: "user:alice", Key: "gh_token"}, 3},
	}
	if !slices.Equal(refs, want) {
		t.Fatalf("got %v, want %v", refs, want)
	}
	for _, bad := range [][]string{
		{"K"}, {"=vault://global/k"}, {"1K=vault://global/k"}, {"K-1=vault://global/k"},
		{"K=global/k"}, {"K=vault://global/k#0"}, {"K=sk-PASTED"}, {"K=vault://global/k", "K=vault://global/j"},
	} {
		_, err := parseEnvRefs(bad)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", bad, err)
			continue
		}
		if strings.Contains(err.Error(), "PASTED") {
			t.Errorf("%q: error echoes the value: %v", bad, err)
		}
	}
}

func TestSetEnv(t *testing.T) {
	got := setEnv([]string{"A=1", "K=old", "KK=2", "K=older"}, "K", "new")
	if want := []string{"A=1", "KK=2", "K=new"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
