package fsops

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"
)

// Type is the kind of a listed entry.
type Type string

// Entry types. A symbolic link is listed as such and not followed.
const (
	TypeFile    Type = "file"
	TypeDir     Type = "dir"
	TypeSymlink Type = "symlink"
	TypeOther   Type = "other" // FIFO, socket, device
)

// Entry is one directory entry.
type Entry struct {
	Name    string      // the entry's name (no directory part)
	Type    Type        // file, dir, symlink or other
	Size    int64       // bytes (for a symlink: the length of its target)
	Mode    fs.FileMode // permission and type bits, as lstat(2) reports them
	ModTime time.Time   // last modification
}

// ListResult is what List returns.
type ListResult struct {
	Entries   []Entry // sorted by name
	Truncated bool    // the directory had more than maxEntries entries
}

// List lists the directory rel (relative to the workspace root, "/"
// separated; "." is the root) without following symbolic links in it.
// maxEntries (positive) bounds the entries returned; which ones are
// returned when there are more is unspecified (the first read from the
// directory), and they are sorted by name. Errors: ErrPath, ErrTooLarge
// (maxEntries not positive), or the wrapped file system error
// (fs.ErrNotExist, not a directory, escapes).
func List(root, rel string, maxEntries int) (ListResult, error) {
	name, err := cleanRel(rel)
	if err != nil {
		return ListResult{}, fmt.Errorf("fs.list: %w", err)
	}
	if maxEntries <= 0 {
		return ListResult{}, fmt.Errorf("fs.list: %w: maxEntries %d is not positive", ErrTooLarge, maxEntries)
	}
	r, err := openRoot(root)
	if err != nil {
		return ListResult{}, fmt.Errorf("fs.list: %w", err)
	}
	defer r.Close()
	// A root of its own for the directory: entries are then looked up
	// relative to its descriptor, never by a path string that a swapped
	// parent could redirect.
	dir, err := r.OpenRoot(name)
	if err != nil {
		return ListResult{}, fmt.Errorf("fs.list: %w", err)
	}
	defer dir.Close()
	d, err := dir.Open(".")
	if err != nil {
		return ListResult{}, fmt.Errorf("fs.list: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(maxEntries + 1)
	if err != nil && err != io.EOF {
		return ListResult{}, fmt.Errorf("fs.list: %s: %w", name, err)
	}
	res := ListResult{}
	if len(names) > maxEntries {
		names, res.Truncated = names[:maxEntries], true
	}
	slices.Sort(names)
	for _, n := range names {
		fi, err := dir.Lstat(n)
		if err != nil {
			continue // removed since it was read
		}
		res.Entries = append(res.Entries, Entry{Name: n, Type: typeOf(fi.Mode()), Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()})
	}
	return res, nil
}

func typeOf(m fs.FileMode) Type {
	switch {
	case m.IsRegular():
		return TypeFile
	case m.IsDir():
		return TypeDir
	case m&fs.ModeSymlink != 0:
		return TypeSymlink
	}
	return TypeOther
}
