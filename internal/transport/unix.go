package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

type uidKey struct{}

// peerConn is a Unix connection whose peer uid was read with SO_PEERCRED at
// accept time (the kernel records the credentials at connect(2); they cannot
// be forged by the peer).
type peerConn struct {
	net.Conn
	uid int
}

// ownerListener accepts only connections whose peer uid is the daemon
// owner's; others are closed at once, before a byte is read.
type ownerListener struct {
	net.Listener
	owner    int
	onRefuse func(uid int)
}

func (l *ownerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := PeerUID(c.(*net.UnixConn))
		if err != nil || uid != l.owner {
			c.Close()
			if l.onRefuse != nil {
				l.onRefuse(uid)
			}
			continue
		}
		return &peerConn{Conn: c, uid: uid}, nil
	}
}

// PeerUID returns the uid of the process at the other end of a Unix socket
// connection, from SO_PEERCRED.
func PeerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) { cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return -1, err
	}
	if serr != nil {
		return -1, serr
	}
	return int(cred.Uid), nil
}

// listenUnix binds the admin socket. A stale socket file from a daemon that
// died is removed first (the caller holds the state-dir lock, so no live
// daemon owns it). The socket is made 0600 right after bind; the state
// directory is 0700, so nobody else can reach it in between.
func (s *Server) listenUnix() error {
	path := s.cfg.SocketPath
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("transport: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("transport: remove stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("transport: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("transport: listen unix %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("transport: chmod socket: %w", err)
	}
	s.unix = &ownerListener{Listener: l, owner: s.cfg.OwnerUID, onRefuse: func(uid int) {
		s.log.Warn("refused admin socket connection from another user", "uid", uid)
	}}
	return nil
}
