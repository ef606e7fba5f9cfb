package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/internal/fileperm"
)

// syncer makes commits durable against power loss. The writer's connection
// commits with synchronous=NORMAL: in WAL mode SQLite then writes the
// transaction's frames to the WAL file (so they are in the operating
// system's cache and survive the process being killed) but does not fsync
// it. The syncer fsyncs the WAL file through its own descriptor: fsync
// flushes the file (inode), whichever descriptor wrote the data, so one
// fsync makes every transaction committed before it durable, exactly as
// synchronous=FULL would have at each commit. On Linux it uses fdatasync,
// as SQLite does for the WAL (syncData). (SQLite fsyncs the WAL itself
// before every WAL checkpoint and the database after it, so frames copied
// into the database file are covered too.)
//
// The descriptor is opened at the first fsync and kept until Close: it
// names the same file (inode) as SQLite's own descriptor of the WAL. SQLite
// keeps that descriptor, and the file, for as long as the writer's
// connection is open (it deletes the WAL only when the last connection
// closes, and reuses it in place after a WAL checkpoint), and the writer's
// connection is open for the journal's life. Even if the path were unlinked
// or replaced behind SQLite's back, SQLite would go on writing to the file
// it has open, which is the one this descriptor flushes. (Checking the
// path before each fsync made a durable Append about 30% slower.)
// SQLite's locks in WAL mode are on the -shm and database files, never the
// WAL, so this descriptor cannot disturb them. The directory is fsynced once
// when the WAL is first opened, so that the WAL's name is durable too.
type syncer struct {
	walPath string
	window  time.Duration
	onErr   func(error)
	f       *os.File // owned by run

	mu      sync.Mutex
	dirty   bool      // something committed since the last fsync began
	dirtyAt time.Time // when the first such commit finished
	waiters []chan error
	err     error        // the last fsync's error, for stop
	syncs   atomic.Int64 // fsyncs done, for tests

	kick chan struct{} // buffered (1)
	quit chan struct{}
	done chan struct{}
}

func newSyncer(walPath string, window time.Duration, onErr func(error)) *syncer {
	return &syncer{
		walPath: walPath,
		window:  window,
		onErr:   onErr,
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// committed is called by the writer after each successful commit, with the
// done channels of the requests that wait for an fsync covering it.
func (s *syncer) committed(waiters []chan error) {
	s.mu.Lock()
	if !s.dirty {
		s.dirty, s.dirtyAt = true, time.Now()
	}
	s.waiters = append(s.waiters, waiters...)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run fsyncs at once when a request waits for it, and otherwise within
// window of the first unsynced commit. Each fsync covers every commit that
// finished before it began.
func (s *syncer) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		s.mu.Lock()
		due := s.dirty && time.Since(s.dirtyAt) >= s.window
		if len(s.waiters) > 0 || due {
			s.syncLocked()
			continue
		}
		var wait <-chan time.Time
		if s.dirty {
			timer.Reset(s.window - time.Since(s.dirtyAt))
			wait = timer.C
		}
		s.mu.Unlock()
		select {
		case <-s.kick:
		case <-wait:
		case <-s.quit:
			timer.Stop()
			s.mu.Lock()
			if len(s.waiters) > 0 || s.dirty {
				s.syncLocked()
			} else {
				s.err = nil
				s.mu.Unlock()
			}
			if s.f != nil {
				s.f.Close()
			}
			return
		}
		timer.Stop()
	}
}

// syncLocked takes the waiters, unlocks s, fsyncs and answers them.
func (s *syncer) syncLocked() {
	w := s.waiters
	s.waiters = nil
	s.dirty = false
	s.mu.Unlock()
	err := s.fsync()
	s.syncs.Add(1)
	if err != nil {
		err = fmt.Errorf("audit: fsync %s (records are committed but may not survive power loss): %w", s.walPath, err)
		if len(w) == 0 {
			s.onErr(err)
		}
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	for _, c := range w {
		c <- err
	}
}

func (s *syncer) fsync() error {
	if s.f == nil {
		f, err := os.OpenFile(s.walPath, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		s.f = f
		if err := fileperm.SyncDir(filepath.Dir(s.walPath)); err != nil {
			return err
		}
	}
	return syncData(s.f)
}

// stop fsyncs what is committed, answers every waiter and stops run. It
// returns the error of that last fsync, if any.
func (s *syncer) stop() error {
	close(s.quit)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
