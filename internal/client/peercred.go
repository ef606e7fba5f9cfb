package client

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// SocketPeerError means the process serving the admin socket is not
// running as this user: not our palyrad. Nothing is sent to it.
type SocketPeerError struct {
	Path string
	UID  int
}

func (e *SocketPeerError) Error() string {
	return fmt.Sprintf("the admin socket %s is served by uid %d, not by this user (%d): not your palyrad; nothing was sent", e.Path, e.UID, os.Getuid())
}

// checkSocketPeer requires that the process at the other end of the Unix
// connection c runs as this user (SO_PEERCRED), as the daemon requires of
// its callers: secrets go only to the user's own daemon.
func checkSocketPeer(c net.Conn, path string) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("client: %s is not a Unix socket", path)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("client: peer credentials of %s: %w", path, cerr)
	}
	if int(cred.Uid) != os.Getuid() {
		return &SocketPeerError{Path: path, UID: int(cred.Uid)}
	}
	return nil
}
