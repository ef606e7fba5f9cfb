package client

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
)

// TestResponseSizeIsBounded: a server that answers with an oversized
// message (a fake palyrad on the socket) does not make the client hold it.
func TestResponseSizeIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "palyrad.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"version":"`))
		w.Write([]byte(strings.Repeat("x", 2*maxResponseBytes)))
		w.Write([]byte(`"}`))
	})}
	go srv.Serve(l)
	defer srv.Close()
	c := DialUnix(path, connect.WithProtoJSON())
	defer c.Close()
	_, err = c.Daemon.Status(context.Background(), connect.NewRequest(&palyrav1.StatusRequest{}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("oversized response: %v", err)
	}
}
