package fsops

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// ReadResult is what Read returns.
type ReadResult struct {
	Data      []byte // the first min(Size, maxBytes) bytes
	Size      int64  // the file's size in bytes when opened
	Truncated bool   // the file had more than maxBytes bytes
}

// Read reads the regular file rel (relative to the workspace root, "/"
// separated) and returns at most maxBytes bytes of it (maxBytes must be
// positive). Errors: ErrPath (rel refused), ErrNotRegular (a directory,
// FIFO, device or socket), ErrHardLinked (the file has other hard links:
// it may be a file outside the workspace), ErrTooLarge is never returned (a longer file is
// Truncated), or the wrapped file system error (fs.ErrNotExist, escapes).
func Read(root, rel string, maxBytes int64) (ReadResult, error) {
	name, err := cleanRel(rel)
	if err != nil {
		return ReadResult{}, fmt.Errorf("fs.read: %w", err)
	}
	if maxBytes <= 0 {
		return ReadResult{}, fmt.Errorf("fs.read: %w: maxBytes %d is not positive", ErrTooLarge, maxBytes)
	}
	r, err := openRoot(root)
	if err != nil {
		return ReadResult{}, fmt.Errorf("fs.read: %w", err)
	}
	defer r.Close()
	// O_NONBLOCK: opening a FIFO must not hang; it is refused below.
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return ReadResult{}, fmt.Errorf("fs.read: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ReadResult{}, fmt.Errorf("fs.read: %w", err)
	}
	if err := checkFile("fs.read", name, fi); err != nil {
		return ReadResult{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return ReadResult{}, fmt.Errorf("fs.read: %s: %w", name, err)
	}
	res := ReadResult{Data: data, Size: fi.Size()}
	if int64(len(data)) > maxBytes {
		res.Data, res.Truncated = data[:maxBytes], true
	}
	return res, nil
}
