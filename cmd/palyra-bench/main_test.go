package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/palyra/palyra/internal/authz
cpu: Test CPU
BenchmarkDecide-2               	  1000	      3000 ns/op	    2888 B/op	      27 allocs/op
BenchmarkDecide-2               	  1000	      2000 ns/op	    2888 B/op	      27 allocs/op
BenchmarkDecide-2               	  1000	      9000 ns/op	    2888 B/op	      27 allocs/op
BenchmarkCedarAuthorizeBare-2   	  1000	      1000.0 ns/op	    1232 B/op	      16 allocs/op
PASS
pkg: github.com/palyra/palyra/internal/redact
BenchmarkWriter/values=100,distinct-2         	      50	    1687768 ns/op	 621.28 MB/s
`

func TestParseMedian(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := res.median("Decide", "ns/op"); !ok || v != 3000 {
		t.Errorf("median Decide = %v, %v; want 3000", v, ok)
	}
	if v, _ := res.median("Writer/values=100,distinct", "MB/s"); v != 621.28 {
		t.Errorf("Writer MB/s = %v", v)
	}
	if res.pkg["Writer/values=100,distinct"] != "github.com/palyra/palyra/internal/redact" || res.cpu != "Test CPU" {
		t.Errorf("pkg %q, cpu %q", res.pkg["Writer/values=100,distinct"], res.cpu)
	}
	if got := res.spread("Decide", "ns/op"); got != " (2,000–9,000)" {
		t.Errorf("spread = %q", got)
	}
}

// Every pair's benchmarks must be in the run: a renamed benchmark fails the
// report instead of dropping out of it.
func TestRenderRefusesMissing(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	_, err = render(res, machine{}, time.Now(), "gen", "cmd")
	if err == nil || !strings.Contains(err.Error(), "RPC/tcp/vault_get") {
		t.Fatalf("render with missing benchmarks: %v", err)
	}
}

// The committed BENCHMARKS.md renders from a run holding every pair, with
// its ratios, the machine and the command.
func TestCommittedReport(t *testing.T) {
	b, err := os.ReadFile("../../BENCHMARKS.md")
	if err != nil {
		t.Skip("no BENCHMARKS.md:", err)
	}
	for _, want := range []string{"go run ./cmd/palyra-bench", "Machine:", "Go: go", "Command: `go test -p 1 -run '^$' -bench", "| `Decide` |", "| `RPC/quic/vault_get` |", "×**"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
}

func TestFormatNum(t *testing.T) {
	for v, want := range map[float64]string{27: "27", 3.5: "3.50", 1234567: "1,234,567", 944: "944", 100: "100"} {
		if got := formatNum(v); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", v, got, want)
		}
	}
}

// A run on a machine busier than its CPUs says so at the top.
func TestRenderWarnsWhenBusy(t *testing.T) {
	res := &results{runs: map[string]map[string][]float64{}, pkg: map[string]string{}}
	for _, p := range pairs {
		for _, n := range []string{p.bench, p.baseline} {
			if n != "" {
				res.runs[n] = map[string][]float64{"ns/op": {100}}
				res.order = append(res.order, n)
			}
		}
	}
	for load, want := range map[string]bool{"12.5": true, "0.30": false} {
		b, err := render(res, machine{cores: 2, load: load}, time.Now(), "gen", "cmd")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), "busy machine"); got != want {
			t.Errorf("load %s: busy warning %v, want %v", load, got, want)
		}
		if !strings.Contains(string(b), "| `Decide` | 100 | `CedarAuthorizeBare` | 100 | **1.00×**") {
			t.Errorf("no Decide row:\n%s", b)
		}
	}
}
