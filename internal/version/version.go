// Package version says which build of Palyra is running: the release
// version, the VCS commit it was built from, the Go toolchain and the
// platform. palyrad and palyra print the same line from it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Version is the daemon, CLI and API version.
const Version = "0.2.0"

// Info describes the running binary.
type Info struct {
	// Version is the release version (Version).
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, with "+dirty"
	// when the tree had uncommitted changes; "unknown" when the build
	// recorded none (go run, go test).
	Commit string `json:"commit"`
	// Go is the Go toolchain version, e.g. "go1.27.3".
	Go string `json:"go"`
	// Platform is GOOS/GOARCH, e.g. "linux/amd64".
	Platform string `json:"platform"`
}

var get = sync.OnceValue(func() Info {
	i := Info{Version: Version, Commit: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		i.Commit = rev + dirty
	}
	return i
})

// Get returns the running binary's Info.
func Get() Info { return get() }

// String returns one line: "<version> (commit <commit>, <go>, <platform>)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s, %s)", i.Version, i.Commit, i.Go, i.Platform)
}
