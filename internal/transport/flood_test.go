package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/palyra/palyra/internal/pki"
	"github.com/palyra/palyra/internal/transport/flood"
)

// The flood tests run a server (this package's, or a bare net/http and
// quic-go one for comparison) in a child process, flood it from this
// process, and meanwhile call Echo as an enrolled device, twice: over one
// kept connection every 20 ms, and over a fresh connection (new handshake)
// every 100 ms. They record the child's RSS before, at its peak during, and
// after the flood.
//
// The short forms run in the normal test run and assert only safety
// properties: every device call succeeds, and memory stays far below what
// the unbounded floods reached. The full-length floods of the issue run
// with PALYRA_LONG_TESTS=1 and report their figures with t.Log.

const longTestsEnv = "PALYRA_LONG_TESTS"

type scenario struct {
	name     string
	mode     string // "palyra" or "bare"
	quic     bool   // devices call over QUIC (else HTTP/2 on TCP)
	baseline time.Duration
	after    time.Duration // how long after the flood to read RSS
	flood    func(ctx context.Context, p *testPKI, c *child) (flood.Stats, error)
}

type result struct {
	idle, peak, rss10, after, afterMin int64
	afterDur                           time.Duration
	heapAfter, heapAfterGC             memStats
	base, baseFresh, baseTok           latencies
	during, duringFresh, duringTok     latencies
	flood                              flood.Stats
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

func (r *result) String() string {
	return fmt.Sprintf("RSS idle %s, peak %s, 10s after %s, %s after %s (lowest since the flood %s); live heap as of last GC %s, after a forced GC %s; goroutines %d; limits %s\n"+
		"\tdevice kept conn:  no flood %s | flood %s\n"+
		"\tdevice fresh conn: no flood %s | flood %s\n"+
		"%s"+
		"\tflood: %s",
		mb(r.idle), mb(r.peak), mb(r.rss10), r.afterDur, mb(r.after), mb(r.afterMin), mb(int64(r.heapAfter.HeapLive)), mb(int64(r.heapAfterGC.HeapLive)), r.heapAfter.Goroutines, r.heapAfter.Limits,
		&r.base, &r.during, &r.baseFresh, &r.duringFresh, r.tokLine(), r.flood)
}

func (r *result) tokLine() string {
	if len(r.baseTok.d)+r.baseTok.errs == 0 {
		return ""
	}
	return fmt.Sprintf("\tdevice fresh conn with NEW_TOKEN: no flood %s | flood %s\n", &r.baseTok, &r.duringTok)
}

func runScenario(t *testing.T, sc scenario) *result {
	t.Helper()
	p := newTestPKI(t)
	c := startChild(t, p, sc.mode)
	base := "https://" + c.addrs.TCP
	if sc.quic {
		base = "https://" + c.addrs.QUIC
	}
	r := &result{}
	ctx := context.Background()

	// Warm up, then the same probes without a flood.
	dev := h2Client(p, &p.device)
	if sc.quic {
		dev = h3Client(p, &p.device)
	}
	defer closeClient(dev)
	for range 20 {
		if _, err := echo(ctx, dev, base, !sc.quic); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	// On QUIC, a third device makes a fresh connection every 100 ms too,
	// but keeps the tokens the server sends (NEW_TOKEN), as a client with a
	// quic.TokenStore does: its connections skip the Retry.
	ts := quic.NewLRUTokenStore(4, 4)
	probes := func(d time.Duration, kept, fresh, tok *latencies, stop <-chan struct{}) func() {
		pctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { probe(pctx, p, sc.quic, base, 20*time.Millisecond, false, nil, kept) })
		wg.Go(func() { probe(pctx, p, sc.quic, base, 100*time.Millisecond, true, nil, fresh) })
		if sc.quic {
			wg.Go(func() { probe(pctx, p, sc.quic, base, 100*time.Millisecond, true, ts, tok) })
		}
		if stop == nil {
			time.Sleep(d)
			cancel()
			wg.Wait()
			return func() {}
		}
		return func() { cancel(); wg.Wait() }
	}
	probes(sc.baseline, &r.base, &r.baseFresh, &r.baseTok, nil)
	time.Sleep(time.Second)
	r.idle = c.rss()

	// The flood, with RSS sampled every 50 ms.
	sampling := make(chan struct{})
	var swg sync.WaitGroup
	swg.Go(func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			if v := c.rss(); v > r.peak {
				r.peak = v
			}
			select {
			case <-sampling:
				return
			case <-tk.C:
			}
		}
	})
	stopProbes := probes(0, &r.during, &r.duringFresh, &r.duringTok, sampling)
	var err error
	r.flood, err = sc.flood(ctx, p, c)
	stopProbes()
	end := time.Now()
	if err != nil {
		close(sampling)
		swg.Wait()
		t.Fatal(err)
	}
	// Keep sampling the peak until the after point; note the lowest too.
	r.afterMin = 1 << 62
	r.rss10 = -1
	for time.Since(end) < sc.after {
		time.Sleep(100 * time.Millisecond)
		v := c.rss()
		if v < r.afterMin {
			r.afterMin = v
		}
		if r.rss10 < 0 && time.Since(end) >= 10*time.Second {
			r.rss10 = v
		}
	}
	r.after, r.afterDur = c.rss(), sc.after
	close(sampling)
	swg.Wait()
	r.heapAfter = c.mem(dev, base, false)
	r.heapAfterGC = c.mem(dev, base, true)
	t.Logf("%s:\n\t%s", sc.name, r)
	return r
}

// floodSpec is what a flood child process runs.
type floodSpec struct {
	Kind     string        `json:"kind"` // "quic" or "h2"
	Target   string        `json:"target"`
	Rate     int           `json:"rate,omitempty"`
	Conns    int           `json:"conns,omitempty"`
	Sources  int           `json:"sources,omitempty"`
	Duration time.Duration `json:"duration"`
	CADir    string        `json:"ca_dir,omitempty"`
}

const floodClientEnv = "PALYRA_TEST_FLOOD_CLIENT" // a floodSpec in JSON

// floodClient runs a flood and prints its Stats as JSON.
func floodClient(spec string) int {
	var fs floodSpec
	if err := json.Unmarshal([]byte(spec), &fs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var st flood.Stats
	var err error
	switch fs.Kind {
	case "quic":
		st, err = flood.QUICInitials{Target: fs.Target, Rate: fs.Rate, Duration: fs.Duration, Sources: fs.Sources}.Run(context.Background())
	case "h2":
		var ca *pki.CA
		if ca, err = loadTestCA(fs.CADir); err == nil {
			st, err = flood.H2RapidReset{Target: fs.Target, TLS: ClientTLSConfig(nil, ca.Pool()),
				Conns: fs.Conns, Duration: fs.Duration, Path: echoProc, Sources: fs.Sources}.Run(context.Background())
		}
	default:
		err = fmt.Errorf("unknown flood %q", fs.Kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(st)
	return 0
}

// runFlood runs spec in a child process limited to one CPU
// (GOMAXPROCS=1), like an attacker elsewhere whose packets arrive at a
// rate, rather than a neighbour competing for the server's scheduler.
func runFlood(ctx context.Context, spec floodSpec) (flood.Stats, error) {
	var st flood.Stats
	b, _ := json.Marshal(spec)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), floodClientEnv+"="+string(b), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return st, fmt.Errorf("flood child: %w", err)
	}
	return st, json.Unmarshal(out, &st)
}

func quicFlood(rate int, d time.Duration) func(context.Context, *testPKI, *child) (flood.Stats, error) {
	return func(ctx context.Context, _ *testPKI, c *child) (flood.Stats, error) {
		return runFlood(ctx, floodSpec{Kind: "quic", Target: c.addrs.QUIC, Rate: rate, Duration: d})
	}
}

// h2Flood spreads conns over 50 loopback source addresses (127.0.0.2-51),
// so that the global anonymous caps are reached, not only the per-source
// ones; the device calls from 127.0.0.1.
func h2Flood(conns int, d time.Duration) func(context.Context, *testPKI, *child) (flood.Stats, error) {
	return func(ctx context.Context, p *testPKI, c *child) (flood.Stats, error) {
		return runFlood(ctx, floodSpec{Kind: "h2", Target: c.addrs.TCP, Conns: conns, Duration: d, Sources: 50, CADir: p.dir})
	}
}

// Safety bounds for the short floods: far below the 437 MB and
// 2.3 GB, far above what the limited server needs.
const (
	shortPeakBound  = 300 << 20
	shortAfterBound = 100 << 20 // over idle
)

func checkShort(t *testing.T, r *result) {
	t.Helper()
	// Devices must be served during the flood. A single call may still
	// time out when the machine itself is starved (a race-detector run
	// beside other work on 2 cores), so the bound is a share, not zero:
	// without the limits, most calls fail.
	for _, l := range []struct {
		name string
		l    *latencies
	}{{"kept", &r.during}, {"fresh", &r.duringFresh}, {"fresh with token", &r.duringTok}} {
		if n := len(l.l.d); l.l.errs > 0 && l.l.errs*10 > n {
			t.Errorf("device calls failed during the flood (%s connection): %d of %d (last %v)", l.name, l.l.errs, n, l.l.last)
		} else if l.l.errs > 0 {
			t.Logf("%s connection: %d of %d device calls failed during the flood (last %v)", l.name, l.l.errs, n, l.l.last)
		}
	}
	if len(r.during.d) == 0 || len(r.duringFresh.d) == 0 {
		t.Error("no device call completed during the flood")
	}
	if r.peak > shortPeakBound {
		t.Errorf("peak RSS %s over %s", mb(r.peak), mb(shortPeakBound))
	}
	if r.afterMin-r.idle > shortAfterBound {
		t.Errorf("RSS after the flood %s, idle %s", mb(r.afterMin), mb(r.idle))
	}
}

func TestQUICInitialFloodShort(t *testing.T) {
	r := runScenario(t, scenario{name: "QUIC junk Initials 4000/s 3s", mode: "palyra", quic: true,
		baseline: time.Second, after: 3 * time.Second, flood: quicFlood(4000, 3*time.Second)})
	checkShort(t, r)
}

func TestH2RapidResetFloodShort(t *testing.T) {
	r := runScenario(t, scenario{name: "HTTP/2 rapid reset 200 conns 3s", mode: "palyra",
		baseline: time.Second, after: 3 * time.Second, flood: h2Flood(200, 3*time.Second)})
	checkShort(t, r)
}

// TestFloodsLong runs the floods at full length and reports; it
// asserts only that device calls kept succeeding on this package's server.
func TestFloodsLong(t *testing.T) {
	if os.Getenv(longTestsEnv) == "" {
		t.Skip("set " + longTestsEnv + "=1 for the full-length floods")
	}
	for _, sc := range []scenario{
		{name: "palyra QUIC junk Initials 4000/s 30s", mode: "palyra", quic: true, flood: quicFlood(4000, 30*time.Second)},
		{name: "palyra QUIC junk Initials 10000/s 30s", mode: "palyra", quic: true, flood: quicFlood(10000, 30*time.Second)},
		{name: "palyra HTTP/2 rapid reset 300 conns 60s", mode: "palyra", flood: h2Flood(300, 60*time.Second)},
		{name: "bare net/http HTTP/2 rapid reset 300 conns 60s", mode: "bare", flood: h2Flood(300, 60*time.Second)},
		{name: "bare quic-go QUIC junk Initials 4000/s 30s", mode: "bare", quic: true, flood: quicFlood(4000, 30*time.Second)},
	} {
		if f := os.Getenv("PALYRA_LONG_ONLY"); f != "" && f != sc.name {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			sc.baseline, sc.after = 10*time.Second, 10*time.Second
			if d, err := time.ParseDuration(os.Getenv("PALYRA_LONG_AFTER")); err == nil {
				sc.after = d
			}
			r := runScenario(t, sc)
			if sc.mode == "palyra" && (r.during.errs > 0 || r.duringFresh.errs > 0 || r.duringTok.errs > 0) {
				t.Errorf("device calls failed: kept %d (%v), fresh %d (%v)", r.during.errs, r.during.last, r.duringFresh.errs, r.duringFresh.last)
			}
		})
	}
}
