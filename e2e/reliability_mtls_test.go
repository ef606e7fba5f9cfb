package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	palyrav1 "github.com/palyra/palyra/api/palyra/v1"
	"github.com/palyra/palyra/internal/client"
	"github.com/palyra/palyra/internal/peer"
)

// TestReliabilityMTLSClientsSustained runs enrolled devices over mutual TLS,
// half on TCP and half on QUIC, each reading a shared secret and writing
// its own in a loop for a sustained period, and samples palyrad's resident
// memory: no call may fail and memory must stay bounded.
func TestReliabilityMTLSClientsSustained(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	d := startDaemon(t, state)
	clients := pick(8, 16)
	period := pick(5*time.Second, 3*time.Minute)
	// The bound on growth of the resident set over the idle daemon's:
	// generous (the short form measures mostly the Go heap warming up);
	// over minutes, steady state must sit well below it.
	maxGrowthKiB := pick(int64(256<<10), int64(128<<10))

	admin := client.DialUnix(d.addrs.Socket)
	defer admin.Close()
	ctx := context.Background()
	shared := []byte("shared-value")
	if _, err := admin.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: "global/shared", Value: shared})); err != nil {
		t.Fatal(err)
	}
	bundles := make([]*client.Bundle, clients)
	for i := range bundles {
		b, err := client.Enroll(ctx, admin, fmt.Sprintf("dev%d", i), filepath.Join(t.TempDir(), "b"), "")
		if err != nil {
			t.Fatal(err)
		}
		bundles[i] = b
	}

	pid := d.cmd.Process.Pid
	before := vmRSS(pid)
	var peak atomic.Int64
	peak.Store(before)
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-tick.C:
				if r := vmRSS(pid); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()

	var calls, errs [2]atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(period)
	for i, b := range bundles {
		tr, ti := peer.TCP, 0
		if i%2 == 1 {
			tr, ti = peer.QUIC, 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.DialBundle(b, tr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			own := "device:" + string(b.Identity.DeviceID) + "/note"
			for n := 0; time.Now().Before(deadline); n++ {
				var err error
				if n%4 == 3 {
					_, err = c.Vault.Put(ctx, connect.NewRequest(&palyrav1.VaultPutRequest{Ref: own, Value: fmt.Appendf(nil, "n%d", n)}))
				} else {
					var r *connect.Response[palyrav1.VaultGetResponse]
					r, err = c.Vault.Get(ctx, connect.NewRequest(&palyrav1.VaultGetRequest{Ref: "global/shared"}))
					if err == nil && string(r.Msg.GetValue()) != string(shared) {
						err = fmt.Errorf("read %q", r.Msg.GetValue())
					}
				}
				calls[ti].Add(1)
				if err != nil {
					errs[ti].Add(1)
					firstErr.Do(func() { t.Errorf("%s client %d: %v", tr, i, err) })
				}
			}
		}()
	}
	wg.Wait()
	close(stopSample)
	<-sampled
	time.Sleep(500 * time.Millisecond)
	after := vmRSS(pid)
	total := calls[0].Load() + calls[1].Load()
	t.Logf("%d mTLS clients (%d TCP, %d QUIC) for %s: %d calls (TCP %d, QUIC %d, %.0f/s), errors TCP %d QUIC %d; palyrad VmRSS before %d KiB, peak %d KiB, after %d KiB",
		clients, (clients+1)/2, clients/2, period, total, calls[0].Load(), calls[1].Load(), float64(total)/period.Seconds(),
		errs[0].Load(), errs[1].Load(), before, peak.Load(), after)
	if errs[0].Load()+errs[1].Load() != 0 {
		t.Fatalf("%d calls failed", errs[0].Load()+errs[1].Load())
	}
	if before == 0 {
		t.Fatal("could not read palyrad's VmRSS")
	}
	if g := peak.Load() - before; g > maxGrowthKiB {
		t.Fatalf("palyrad's memory grew by %d KiB under load, bound %d KiB", g, maxGrowthKiB)
	}
	auditVerify(t, state)
}
