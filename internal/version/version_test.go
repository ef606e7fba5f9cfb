package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	i := Get()
	if i.Version != Version || i.Go != runtime.Version() || i.Platform != runtime.GOOS+"/"+runtime.GOARCH || i.Commit == "" {
		t.Fatalf("%+v", i)
	}
	if s := i.String(); !strings.HasPrefix(s, Version+" (commit ") || !strings.Contains(s, i.Platform) {
		t.Fatalf("String() = %q", s)
	}
}
