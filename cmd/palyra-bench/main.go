// Command palyra-bench regenerates BENCHMARKS.md: it runs the benchmarks
// that have an in-run baseline (go test -bench, -count runs each), takes the
// median of each, and writes every benchmark beside its baseline as a ratio,
// with the machine, the Go version, the date and the exact command.
//
//	go run ./cmd/palyra-bench                    # writes BENCHMARKS.md (1–2 minutes on 2 cores)
//	go run ./cmd/palyra-bench -benchtime 1s -count 5 -out /tmp/b.md
//	go run ./cmd/palyra-bench -input bench.txt   # render saved `go test -bench` output instead of running
//
// A benchmark or baseline named in the pairs below that the run did not
// produce is an error, so a renamed benchmark cannot drop out of the report
// unnoticed.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// packages are benchmarked in this order, one at a time (-p 1).
var packages = []string{"./internal/daemon", "./internal/vault", "./internal/audit", "./internal/authz", "./internal/redact"}

// benchmarks are the top-level benchmarks run; each's sub-benchmarks all run.
var benchmarks = []string{
	"BenchmarkRPC",
	"BenchmarkGet", "BenchmarkBareSQLiteGet", "BenchmarkBareSQLiteGetPrepared",
	"BenchmarkPut", "BenchmarkBareSQLitePut",
	"BenchmarkAppend", "BenchmarkBareSQLiteInsert",
	"BenchmarkDecide", "BenchmarkCedarAuthorizeBare", "BenchmarkDecidePolicies",
	"BenchmarkWriter",
}

// pair is one row of the report: a benchmark and the baseline it is read
// against ("" for none: the row shows throughput only).
type pair struct {
	bench, baseline, what string
}

var pairs = []pair{
	{"RPC/tcp/vault_get", "RPC/tcp/echo", "authorized vault get over gRPC/TLS vs a bare echo of the same size"},
	{"RPC/tcp/vault_get_parallel8", "RPC/tcp/echo_parallel8", "the same, 8 callers per core"},
	{"RPC/quic/vault_get", "RPC/quic/echo", "authorized vault get over HTTP/3 vs a bare echo"},
	{"RPC/quic/vault_get_parallel8", "RPC/quic/echo_parallel8", "the same, 8 callers per core"},
	{"Get/64B", "BareSQLiteGet/64B", "vault get (decrypt) vs a bare SQLite read"},
	{"Get/64B", "BareSQLiteGetPrepared/64B", "vault get vs a bare prepared SQLite read"},
	{"Get/4096B", "BareSQLiteGet/4096B", "vault get vs a bare SQLite read"},
	{"Get/4096B", "BareSQLiteGetPrepared/4096B", "vault get vs a bare prepared SQLite read"},
	{"Put/64B", "BareSQLitePut/64B", "vault put (encrypt, fsync) vs a bare SQLite insert (fsync)"},
	{"Put/4096B", "BareSQLitePut/4096B", "vault put vs a bare SQLite insert"},
	{"Append/window", "BareSQLiteInsert/NORMAL", "audit append, fsync within the window, vs a bare insert (synchronous=NORMAL)"},
	{"Append/window-durable", "BareSQLiteInsert/FULL", "durable audit append vs a bare insert (synchronous=FULL)"},
	{"Append/always", "BareSQLiteInsert/FULL", "audit append, sync=always, vs a bare insert (synchronous=FULL)"},
	{"Decide", "CedarAuthorizeBare", "one policy decision vs a bare cedar-go Authorize"},
	{"DecidePolicies/n=10000/indexed", "DecidePolicies/n=10000/plain", "a decision among 10,000 operator policies, indexed vs every policy evaluated"},
	{"DecidePolicies/n=10000/indexed", "DecidePolicies/n=10/indexed", "indexed decisions, 10,000 policies vs 10 (flat: goal under 2×)"},
	{"Writer/values=1", "", "palyra run's masking Writer, 1 MiB writes, 1 value"},
	{"Writer/values=16", "", "16 values"},
	{"Writer/values=100", "", "100 values sharing a beginning"},
	{"Writer/values=100,distinct", "", "100 values with distinct beginnings"},
}

func main() {
	out := flag.String("out", "BENCHMARKS.md", "report to write")
	benchtime := flag.String("benchtime", "300ms", "go test -benchtime")
	count := flag.Int("count", 3, "go test -count: runs per benchmark (the report shows their median)")
	input := flag.String("input", "", "render this saved go test -bench output instead of running the benchmarks")
	raw := flag.String("raw", "", "also save the raw go test output here")
	flag.Parse()
	if err := run(*out, *benchtime, *count, *input, *raw); err != nil {
		fmt.Fprintln(os.Stderr, "palyra-bench: "+err.Error())
		os.Exit(1)
	}
}

func run(out, benchtime string, count int, input, raw string) error {
	args := goTestArgs(benchtime, count)
	command := "go " + shellJoin(args)
	m := describeMachine("")
	start := time.Now()
	var output []byte
	if input != "" {
		var err error
		if output, err = os.ReadFile(input); err != nil { // #nosec G304 -- the saved output the operator named with -input
			return err
		}
		command = "(rendered from " + input + ")"
	} else {
		var buf bytes.Buffer
		cmd := exec.Command("go", args...) // #nosec G204 -- go test with the fixed benchmark list and packages; only -benchtime and -count come from flags, as separate arguments
		cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
		cmd.Stderr = os.Stderr
		fmt.Fprintln(os.Stderr, "palyra-bench: "+command)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", command, err)
		}
		output = buf.Bytes()
	}
	if raw != "" {
		if err := os.WriteFile(raw, output, 0o644); err != nil { // #nosec G306 G703 -- benchmark output (no secrets) to the path the operator named with -raw
			return err
		}
	}
	res, err := parse(bytes.NewReader(output))
	if err != nil {
		return err
	}
	if m.cpu == "" {
		m.cpu = res.cpu
	}
	m.took = time.Since(start).Round(time.Second)
	gen := "go run ./cmd/palyra-bench"
	if benchtime != "300ms" || count != 3 {
		gen += fmt.Sprintf(" -benchtime %s -count %d", benchtime, count)
	}
	report, err := render(res, m, time.Now().UTC(), gen, command)
	if err != nil {
		return err
	}
	return os.WriteFile(out, report, 0o644) // #nosec G306 G703 -- the public report, committed to the repository, at the path named with -out
}

// goTestArgs are the arguments of the one go test command that runs every
// benchmark of the report.
func goTestArgs(benchtime string, count int) []string {
	args := []string{"test", "-p", "1", "-run", "^$", "-bench", "^(" + strings.Join(benchmarks, "|") + ")$",
		"-benchtime", benchtime, "-count", strconv.Itoa(count)}
	return append(args, packages...)
}

// shellJoin quotes args for a POSIX shell where needed.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " $^()|*?[]'\"\\&;<>") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// results are the parsed go test -bench output: every run's metrics, by
// benchmark name (without "Benchmark" and the -GOMAXPROCS suffix) and unit.
type results struct {
	runs  map[string]map[string][]float64
	pkg   map[string]string // benchmark → package
	order []string
	cpu   string // the "cpu:" line
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.+)$`)

func parse(r io.Reader) (*results, error) {
	res := &results{runs: map[string]map[string][]float64{}, pkg: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	pkg := ""
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			res.cpu = strings.TrimSpace(c)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, fields := m[1], strings.Fields(m[3])
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("malformed benchmark line %q", line)
		}
		if _, ok := res.runs[name]; !ok {
			res.runs[name] = map[string][]float64{}
			res.pkg[name] = pkg
			res.order = append(res.order, name)
		}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("malformed benchmark line %q: %w", line, err)
			}
			res.runs[name][fields[i+1]] = append(res.runs[name][fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(res.order) == 0 {
		return nil, errors.New("no benchmark results in the output")
	}
	return res, nil
}

// median of the runs of name in unit, and whether there were any.
func (r *results) median(name, unit string) (float64, bool) {
	v := slices.Clone(r.runs[name][unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// spread is "min–max" of the runs of name in unit.
func (r *results) spread(name, unit string) string {
	v := r.runs[name][unit]
	if len(v) < 2 {
		return ""
	}
	return " (" + formatNum(slices.Min(v)) + "–" + formatNum(slices.Max(v)) + ")"
}

type machine struct {
	cpu, goVersion, os string
	cores              int
	// load is /proc/loadavg's 1-minute load average before the run: other
	// work on the machine skews every figure, ratios less so.
	load string
	took time.Duration
}

func describeMachine(benchCPU string) machine {
	m := machine{cpu: benchCPU, cores: runtime.NumCPU(), goVersion: runtime.Version(), os: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.load = f[0]
		}
	}
	if v, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(v)) // the toolchain that ran the benchmarks
	}
	if v, err := exec.Command("uname", "-srm").Output(); err == nil {
		m.os = strings.TrimSpace(string(v))
	}
	return m
}

func render(res *results, m machine, date time.Time, gen, command string) ([]byte, error) {
	var b bytes.Buffer
	var missing []string
	for _, p := range pairs {
		for _, n := range []string{p.bench, p.baseline} {
			if _, ok := res.median(n, "ns/op"); n != "" && !ok && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("benchmarks missing from the run: %s", strings.Join(missing, ", "))
	}
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Generated by `%s` on %s. Each figure is the median of the runs (-count); the range\n", gen, date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "is their min–max. A ratio is the benchmark's median ns/op over its baseline's, both measured in the\n")
	fmt.Fprintf(&b, "same run on the same machine: it is the figure to compare across machines, not the ns/op.\n\n")
	if l, err := strconv.ParseFloat(m.load, 64); err == nil && m.cores > 0 && l > float64(m.cores) {
		fmt.Fprintf(&b, "**Measured on a busy machine** (load average %s on %d CPUs before the run): other processes\n"+
			"competed for the CPUs and the disk, so these figures, ratios included, are noisy; regenerate on a\n"+
			"quiet machine before drawing conclusions.\n\n", m.load, m.cores)
	}
	fmt.Fprintf(&b, "- Machine: %s, %d logical CPUs\n", m.cpu, m.cores)
	fmt.Fprintf(&b, "- OS: %s\n", m.os)
	if m.load != "" {
		fmt.Fprintf(&b, "- Load average (1 min) before the run: %s (other work on the machine skews the ns/op; ratios less)\n", m.load)
	}
	if m.took > 0 {
		fmt.Fprintf(&b, "- Run time: %s\n", m.took)
	}
	fmt.Fprintf(&b, "- Go: %s\n", m.goVersion)
	fmt.Fprintf(&b, "- Command: `%s`\n\n", command)
	fmt.Fprintf(&b, "## Against their baselines\n\n")
	fmt.Fprintf(&b, "| Benchmark | ns/op (range) | Baseline | ns/op (range) | Ratio | What |\n|---|---:|---|---:|---:|---|\n")
	for _, p := range pairs {
		v, _ := res.median(p.bench, "ns/op")
		row := fmt.Sprintf("| `%s` | %s%s ", p.bench, formatNum(v), res.spread(p.bench, "ns/op"))
		if p.baseline == "" {
			mbs, ok := res.median(p.bench, "MB/s")
			tp := "—"
			if ok {
				tp = formatNum(mbs) + " MB/s"
			}
			row += fmt.Sprintf("| none (throughput: %s) | | | %s |", tp, p.what)
		} else {
			bv, _ := res.median(p.baseline, "ns/op")
			row += fmt.Sprintf("| `%s` | %s%s | **%.2f×** | %s |", p.baseline, formatNum(bv), res.spread(p.baseline, "ns/op"), v/bv, p.what)
		}
		fmt.Fprintln(&b, row)
	}
	fmt.Fprintf(&b, "\n## Every result\n\nMedians of every metric the benchmarks report (cpu-µs/op: the process's CPU time per\noperation, client and daemon together; p50/p99: per-call latency percentiles).\n\n")
	fmt.Fprintf(&b, "| Package | Benchmark | Metrics |\n|---|---|---|\n")
	for _, n := range res.order {
		units := make([]string, 0, len(res.runs[n]))
		for u := range res.runs[n] {
			units = append(units, u)
		}
		slices.SortStableFunc(units, func(a, c string) int {
			if d := unitRank(a) - unitRank(c); d != 0 {
				return d
			}
			return strings.Compare(a, c)
		})
		var ms []string
		for _, u := range units {
			v, _ := res.median(n, u)
			ms = append(ms, formatNum(v)+" "+u)
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", strings.TrimPrefix(res.pkg[n], "github.com/palyra/palyra/"), n, strings.Join(ms, ", "))
	}
	return b.Bytes(), nil
}

func unitRank(u string) int {
	switch u {
	case "ns/op":
		return 0
	case "MB/s":
		return 1
	case "cpu-µs/op":
		return 2
	case "B/op":
		return 8
	case "allocs/op":
		return 9
	}
	return 5
}

// formatNum prints v with thousands separators, and with decimals only when
// it is small.
func formatNum(v float64) string {
	if v < 100 && v != float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
