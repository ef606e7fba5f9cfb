// Package fsops reads, writes and lists files inside a workspace directory
// for the fs.read, fs.write and fs.list tools, without ever reaching a file
// outside it.
//
// Every operation opens the workspace with os.OpenRoot and works through the
// returned *os.Root. os.Root resolves each path component relative to an
// open directory descriptor and refuses any component, symbolic link or ".."
// that would leave the root; on Linux this holds even when a directory on
// the path is replaced by a symbolic link while the call runs (the walk
// never re-resolves a path string). Symbolic links that stay inside the
// workspace are followed; absolute symbolic links are refused. Its
// documented limits: it does not stop traversal of mount points inside the
// workspace, /proc special files or device files (Read and Write refuse
// anything but regular files), and on Unix its Chmod, Chown and Chtimes are
// racy (this package never calls them).
//
// On top of os.Root the package refuses, before any file system access,
// relative paths that are empty, absolute, contain a NUL byte or have a ".."
// element (even one that would stay inside): callers name files plainly,
// with "/" as the separator. Files are created with mode 0600 and
// directories with 0700. Sizes are bounded by the caller.
//
// Policy is not consulted here: the caller (the tool adapter) decides which
// workspace a request may touch and passes it as root.
package fsops

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Errors callers can branch on. File system errors (fs.ErrNotExist,
// fs.ErrExist, fs.ErrPermission, and os.Root's "path escapes from parent")
// are wrapped as they come.
var (
	ErrPath       = errors.New("path refused")
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("size limit exceeded")
	ErrHardLinked = errors.New("file has other hard links")
)

// Modes of what Write and List create.
const (
	FileMode = 0o600
	DirMode  = 0o700
)

// cleanRel checks rel and returns it cleaned ("a//b/./c" → "a/b/c"; "" is
// refused, "." names the root itself).
func cleanRel(rel string) (string, error) {
	switch {
	case rel == "":
		return "", fmt.Errorf("%w: empty path", ErrPath)
	case strings.IndexByte(rel, 0) >= 0:
		return "", fmt.Errorf("%w: NUL byte in path", ErrPath)
	case path.IsAbs(rel) || filepath.IsAbs(rel):
		return "", fmt.Errorf("%w: %q is absolute; give a path relative to the workspace", ErrPath, rel)
	}
	for _, el := range strings.Split(rel, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: %q has a '..' element", ErrPath, rel)
		}
	}
	return path.Clean(rel), nil
}

// openRoot opens the workspace; root must be an absolute path to a
// directory (symbolic links in root itself are followed: it is the
// operator's configuration, not the caller's input).
func openRoot(root string) (*os.Root, error) {
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	return os.OpenRoot(root)
}

func checkRoot(root string) error {
	if !filepath.IsAbs(root) {
		return fmt.Errorf("%w: workspace %q is not an absolute path", ErrPath, root)
	}
	return nil
}

// Path returns the absolute path rel names inside root, after the same
// checks Read, Write and List make (root absolute; rel not empty, not
// absolute, no NUL, no ".."), for authorization context and audit. It is
// lexical: a symbolic link inside the workspace may lead elsewhere inside
// it, and the operations themselves never leave root whatever Path said.
func Path(root, rel string) (string, error) {
	if err := checkRoot(root); err != nil {
		return "", err
	}
	name, err := cleanRel(rel)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, name), nil
}

// checkFile returns nil when fi, the stat of the opened file name, is a
// regular file with a single link. Otherwise it returns, prefixed by op
// ("fs.read"), ErrNotRegular (a directory, FIFO, device or socket) or
// ErrHardLinked: a hard link in the workspace to a file outside it (the
// daemon's state, another user's file it may read) passes every path
// check.
func checkFile(op, name string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %s: %w (%s)", op, name, ErrNotRegular, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return fmt.Errorf("%s: %s: %w (%d links)", op, name, ErrHardLinked, st.Nlink)
	}
	return nil
}
