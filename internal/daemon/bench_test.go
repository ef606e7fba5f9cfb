package daemon

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	echov1 "github.com/palyra/palyra/api/palyra/echo/v1"
	"github.com/palyra/palyra/api/palyra/echo/v1/echov1connect"
	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/transport"
)

// echoService is the baseline: the same listeners, TLS configuration,
// client certificate and HTTP stack as the API, with no authentication,
// authorization, audit or vault.
type echoService struct{}

func (echoService) Echo(_ context.Context, r *connect.Request[echov1.EchoRequest]) (*connect.Response[echov1.EchoResponse], error) {
	return connect.NewResponse(&echov1.EchoResponse{Payload: r.Msg.Payload}), nil
}

// startEcho serves the echo baseline with the daemon's own TLS config.
func startEcho(b *testing.B, td *testDaemon) transport.Addrs {
	mux := http.NewServeMux()
	mux.Handle(echov1connect.NewEchoServiceHandler(echoService{}, connect.WithCompressMinBytes(1024)))
	srv, err := transport.Listen(transport.Config{Handler: mux, TLS: td.tlsConfig(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return srv.Addrs()
}

// BenchmarkRPC compares, on each TLS transport with a reused connection, an
// authorized vault get (authn, one Cedar decision, one audit append, envelope
// open) with a bare echo of the same size over the same stack.
func BenchmarkRPC(b *testing.B) {
	td := startDaemon(b, nil)
	ctx := context.Background()
	bundle := td.enroll(b, "bench")
	value := make([]byte, 64)
	if _, err := td.admin.VaultPut(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/bench", Value: value})); err != nil {
		b.Fatal(err)
	}
	echoAddrs := startEcho(b, td)
	for _, tr := range []string{transport.TCP, transport.QUIC} {
		hc, closeFn := client.TCPHTTPClient(&bundle.Cert, bundle.Roots())
		echoAddr := echoAddrs.TCP
		if tr == transport.QUIC {
			hc, closeFn = client.QUICHTTPClient(&bundle.Cert, bundle.Roots())
			echoAddr = echoAddrs.QUIC
		}
		echo := echov1connect.NewEchoServiceClient(hc, "https://"+echoAddr, client.ClientOptions(tr)...)
		b.Run(tr+"/echo", func(b *testing.B) {
			req := connect.NewRequest(&echov1.EchoRequest{Payload: value})
			for b.Loop() {
				if _, err := echo.Echo(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		conn, _ := client.DialBundle(bundle, tr)
		b.Run(tr+"/vault_get", func(b *testing.B) {
			req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/bench"})
			for b.Loop() {
				if _, err := conn.VaultGet(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tr+"/vault_get_parallel8", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/bench"})
				for pb.Next() {
					if _, err := conn.VaultGet(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(tr+"/echo_parallel8", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				req := connect.NewRequest(&echov1.EchoRequest{Payload: value})
				for pb.Next() {
					if _, err := echo.Echo(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		conn.Close()
		closeFn()
	}
}
