//go:build !linux

package audit

import "os"

// syncData flushes f to stable storage with File.Sync (on macOS that is
// F_FULLFSYNC, which also flushes the drive's cache).
func syncData(f *os.File) error { return f.Sync() }
