package daemon

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	echov1 "github.com/palyra/palyra/api/palyra/echo/v1"
	"github.com/palyra/palyra/api/palyra/echo/v1/echov1connect"
	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/peer"
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
	if _, err := td.admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/bench", Value: value})); err != nil {
		b.Fatal(err)
	}
	echoAddrs := startEcho(b, td)
	for _, tr := range []peer.Transport{peer.TCP, peer.QUIC} {
		hc, closeFn := client.TCPHTTPClient(&bundle.Cert, bundle.Roots())
		echoAddr := echoAddrs.TCP
		if tr == peer.QUIC {
			hc, closeFn = client.QUICHTTPClient(&bundle.Cert, bundle.Roots())
			echoAddr = echoAddrs.QUIC
		}
		echo := echov1connect.NewEchoServiceClient(hc, "https://"+echoAddr, client.ClientOptions(tr)...)
		b.Run(tr.String()+"/echo", func(b *testing.B) {
			req := connect.NewRequest(&echov1.EchoRequest{Payload: value})
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := echo.Echo(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		conn, _ := client.DialBundle(bundle, tr)
		b.Run(tr.String()+"/vault_get", func(b *testing.B) {
			req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/bench"})
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := conn.Vault.Get(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tr.String()+"/vault_get_parallel8", func(b *testing.B) {
			defer reportCPU(b)()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				req := connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/bench"})
				for pb.Next() {
					if _, err := conn.Vault.Get(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(tr.String()+"/echo_parallel8", func(b *testing.B) {
			defer reportCPU(b)()
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

// reportCPU reports the process's CPU time (user + system, client and daemon
// together, as both run in this process) per operation as "cpu-µs/op".
// Call it before the loop and defer the function it returns.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
