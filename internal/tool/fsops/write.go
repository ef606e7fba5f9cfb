package fsops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// DefaultMaxFileBytes bounds the size of a written file when
// WriteOptions.MaxFileBytes is 0.
const DefaultMaxFileBytes = 16 << 20 // 16 MiB

// WriteOptions say how Write treats the file.
type WriteOptions struct {
	// Create creates the file (mode 0600) if it does not exist; without
	// it a missing file is fs.ErrNotExist.
	Create bool
	// Exclusive, with Create, fails with fs.ErrExist if the file exists.
	Exclusive bool
	// Append adds data at the end; otherwise the file's contents are
	// replaced (in place: the inode and its mode are kept).
	Append bool
	// MakeParents creates missing parent directories (mode 0700).
	MakeParents bool
	// MaxFileBytes bounds the file's size after the write, in bytes;
	// 0 means DefaultMaxFileBytes. A write that would exceed it is
	// refused with ErrTooLarge before anything is written.
	MaxFileBytes int64
}

// WriteResult is what Write did.
type WriteResult struct {
	Written int64 // bytes written (len(data))
	Size    int64 // the file's size afterwards
	Created bool  // the file did not exist before
}

// Write writes data to the file rel (relative to the workspace root, "/"
// separated). Only regular files with a single link are written: a file
// with other hard links may be the same inode as a file outside the
// workspace. The write is not atomic: a failure part-way can leave the
// file partly written. Errors: ErrPath, ErrNotRegular, ErrHardLinked,
// ErrTooLarge, or the wrapped file system error (fs.ErrNotExist,
// fs.ErrExist, escapes).
func Write(root, rel string, data []byte, opts WriteOptions) (WriteResult, error) {
	name, err := cleanRel(rel)
	if err != nil {
		return WriteResult{}, fmt.Errorf("fs.write: %w", err)
	}
	if name == "." {
		return WriteResult{}, fmt.Errorf("fs.write: %w: the workspace itself is not a file", ErrPath)
	}
	limit := opts.MaxFileBytes
	if limit <= 0 {
		limit = DefaultMaxFileBytes
	}
	if int64(len(data)) > limit {
		return WriteResult{}, fmt.Errorf("fs.write: %s: %w: %d bytes, limit %d", name, ErrTooLarge, len(data), limit)
	}
	r, err := openRoot(root)
	if err != nil {
		return WriteResult{}, fmt.Errorf("fs.write: %w", err)
	}
	defer r.Close()
	if opts.MakeParents {
		if dir := path.Dir(name); dir != "." {
			if err := r.MkdirAll(dir, DirMode); err != nil {
				return WriteResult{}, fmt.Errorf("fs.write: %w", err)
			}
		}
	}
	f, created, err := openForWrite(r, name, opts)
	if err != nil {
		return WriteResult{}, fmt.Errorf("fs.write: %w", err)
	}
	res, err := writeOpen(f, name, data, opts.Append, limit)
	res.Created = created
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("fs.write: %s: %w", name, cerr)
	}
	return res, err
}

// openForWrite opens name for writing without truncating it, creating it
// when asked; created says whether this call created it.
func openForWrite(r *os.Root, name string, opts WriteOptions) (*os.File, bool, error) {
	// O_NONBLOCK: opening a FIFO without a reader fails (ENXIO) instead
	// of hanging.
	flags := os.O_WRONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	if opts.Append {
		flags |= os.O_APPEND
	}
	if opts.Create {
		f, err := r.OpenFile(name, flags|os.O_CREATE|os.O_EXCL, FileMode)
		if err == nil || opts.Exclusive || !errors.Is(err, fs.ErrExist) {
			return f, err == nil, err
		}
	}
	f, err := r.OpenFile(name, flags, 0)
	return f, false, err
}

func writeOpen(f *os.File, name string, data []byte, appending bool, limit int64) (WriteResult, error) {
	fi, err := f.Stat()
	if err != nil {
		return WriteResult{}, fmt.Errorf("fs.write: %s: %w", name, err)
	}
	if err := checkFile("fs.write", name, fi); err != nil {
		return WriteResult{}, err
	}
	size := int64(len(data))
	if appending {
		size += fi.Size()
	}
	if size > limit {
		return WriteResult{}, fmt.Errorf("fs.write: %s: %w: the file would have %d bytes, limit %d", name, ErrTooLarge, size, limit)
	}
	if !appending {
		if err := f.Truncate(0); err != nil {
			return WriteResult{}, fmt.Errorf("fs.write: %s: %w", name, err)
		}
	}
	n, err := f.Write(data)
	res := WriteResult{Written: int64(n), Size: size}
	if err != nil {
		return res, fmt.Errorf("fs.write: %s: %w", name, err)
	}
	return res, nil
}
