package statedir

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
)

// Watch notices a database of the state directory being deleted or
// replaced under a running daemon, which would otherwise go on writing into
// an unlinked file whose content is lost at the next start. Take one with
// Layout.Watch once the databases are open, call Check periodically, and
// refuse requests while Err is not nil.
type Watch struct {
	files []watched
	err   atomic.Pointer[error]
}

type watched struct {
	name, path string
	f          *os.File // held open, so the inode is not reused while watched
	dev, ino   uint64
}

// Watch records the identity (device and inode) of every database, and of
// its write-ahead log when there is one, now and holds each open
// (read-only) until Close.
func (l Layout) Watch() (*Watch, error) {
	w := &Watch{}
	var files []struct{ name, path string }
	for _, p := range l.parts("") { // the databases only
		if p.kind != kindDB {
			continue
		}
		files = append(files, struct{ name, path string }{p.name, p.path})
		// The write-ahead log holds the latest commits until they are
		// checkpointed into the database: deleting it loses them. It exists
		// as long as the daemon holds the database open.
		if _, err := os.Stat(p.path + "-wal"); err == nil {
			files = append(files, struct{ name, path string }{p.name + "-wal", p.path + "-wal"})
		}
	}
	for _, p := range files {
		f, err := os.Open(p.path)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("statedir: watch %s: %w", p.name, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			w.Close()
			return nil, fmt.Errorf("statedir: watch %s: %w", p.name, err)
		}
		dev, ino, _ := statID(fi)
		w.files = append(w.files, watched{p.name, p.path, f, dev, ino})
	}
	return w, nil
}

// Close releases the files Watch holds.
func (w *Watch) Close() {
	for _, f := range w.files {
		f.f.Close()
	}
	w.files = nil
}

// ErrReplaced is wrapped by Check's error.
var ErrReplaced = errors.New("state file deleted or replaced while palyrad runs")

// Check compares every database path with the file opened at start. Once
// it has found a problem it keeps reporting it: the daemon must be
// restarted (and the file restored) to serve again.
func (w *Watch) Check() error {
	if err := w.Err(); err != nil {
		return err
	}
	for _, f := range w.files {
		dev, ino, err := fileID(f.path)
		if err != nil || dev != f.dev || ino != f.ino {
			what := "replaced"
			if errors.Is(err, os.ErrNotExist) {
				what = "deleted"
			}
			e := fmt.Errorf("%w: %s was %s; stop palyrad and restore it from a backup (palyrad refuses to start without it)", ErrReplaced, f.name, what)
			w.err.CompareAndSwap(nil, &e)
			return w.Err()
		}
	}
	return nil
}

// Err returns the problem Check found, or nil. It reads memory only.
func (w *Watch) Err() error {
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

func fileID(path string) (dev, ino uint64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	return statID(fi)
}

func statID(fi os.FileInfo) (dev, ino uint64, err error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, errors.New("no inode information on this platform")
	}
	return uint64(st.Dev), st.Ino, nil
}
