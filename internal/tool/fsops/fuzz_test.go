package fsops

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzCleanRel(f *testing.F) {
	for _, s := range []string{"a/b", "./a//b/", ".", "..", "a/../b", "/etc/passwd", "a\x00b", "...", "a/..b", "..a/b", `a\..\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		got, err := cleanRel(rel)
		if err != nil {
			if !errors.Is(err, ErrPath) {
				t.Fatalf("error does not wrap ErrPath: %v", err)
			}
			return
		}
		// Accepted paths are local: no root, no "..", no NUL, no escape.
		if got != "." && !filepath.IsLocal(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("cleanRel(%q) = %q, not local", rel, got)
		}
		if again, err := cleanRel(got); err != nil || again != got {
			t.Fatalf("cleanRel not idempotent on %q: %q %v", got, again, err)
		}
	})
}
