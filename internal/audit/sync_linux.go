package audit

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData flushes f's data, and the metadata needed to read it back (its
// size), to stable storage: fdatasync(2), as SQLite itself uses for the WAL
// on Linux. It skips the timestamp updates a full fsync would also write.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
