package client

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
)

// TestHelperSocketServer is not a test: run as another user by
// TestSocketServedByAnotherUserIsRefused, it listens on the socket it is
// given and accepts connections until killed.
func TestHelperSocketServer(t *testing.T) {
	path := os.Getenv("PALYRA_TEST_SOCKET")
	if path == "" {
		t.Skip("helper process only")
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		os.Exit(1)
	}
	os.Chmod(path, 0o777)
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(0)
		}
		go func() { defer c.Close(); c.Read(make([]byte, 1<<16)) }()
	}
}

// TestSocketServedByAnotherUserIsRefused: the CLI sends nothing to an admin
// socket whose server runs as another user.
func TestSocketServedByAnotherUserIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the fake server as another user")
	}
	// Not t.TempDir: its parent is 0700, which the other uid cannot enter.
	dir, err := os.MkdirTemp("", "palyra-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	path := filepath.Join(dir, "palyrad.sock")
	// The test binary lives in a 0700 build directory: give the other uid
	// a copy it can execute.
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "server")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperSocketServer$")
	cmd.Env = append(os.Environ(), "PALYRA_TEST_SOCKET="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fake server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := DialUnix(path)
	defer c.Close()
	_, err = c.Vault.Put(context.Background(), connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/k", Value: []byte("secret")}))
	var sp *SocketPeerError
	if !errors.As(err, &sp) || sp.UID != 65534 {
		t.Fatalf("put to another user's socket: %v", err)
	}
}
