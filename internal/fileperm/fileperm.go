// Package fileperm reads files whose permissions matter, ssh-style: a file
// holding private keys must be readable by its owner only, and a file that
// decides whom we trust (a pinned CA, a daemon address) must be writable by
// its owner only. Either way the owner must be the current user. The checks
// and the read use one open file, so the file checked is the file read.
package fileperm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Kind says which permission rule a file must satisfy.
type Kind int

const (
	// Private files (keys) may have no group or other bits at all.
	Private Kind = iota
	// Trusted files may be readable by others but writable only by the owner.
	Trusted
	// System files are Trusted files that root may own too (a system
	// service's configuration in /etc).
	System
)

// ErrInsecure is wrapped by every permission or ownership refusal.
var ErrInsecure = errors.New("insecure permissions")

// Check checks fi (a file or directory) against kind: owned by the current
// user (or root, for System), and without the group/other bits the kind
// forbids.
func Check(fi fs.FileInfo, kind Kind) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() && !(kind == System && st.Uid == 0) {
		return fmt.Errorf("%w: %s belongs to uid %d, not to this user", ErrInsecure, fi.Name(), st.Uid)
	}
	mask := fs.FileMode(0o077)
	if kind != Private {
		mask = 0o022
	}
	if bad := fi.Mode().Perm() & mask; bad != 0 {
		return fmt.Errorf("%w: %s has mode %04o (group/other bits %04o not allowed)", ErrInsecure, fi.Name(), fi.Mode().Perm(), bad)
	}
	return nil
}

// ReadFile opens path, checks it with Check, and reads at most maxBytes
// (more is an error).
func ReadFile(path string, kind Kind, maxBytes int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO planted at path must not hang; anything
	// but a regular file is refused below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // #nosec G304 -- checking an operator-given path is this function's purpose
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if err := Check(fi, kind); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxBytes)
	}
	return b, nil
}

// SyncDir fsyncs the directory dir, so that files created, renamed or
// removed in it are durable (a file's own fsync does not cover its
// directory entry).
func SyncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- a directory the caller owns, opened only to fsync it
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
