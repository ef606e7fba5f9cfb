package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

// naive is the reference: leftmost-longest, non-overlapping replacement of
// values by their labels, position by position.
func naive(values map[string]string, in []byte) []byte {
	var out []byte
	for i := 0; i < len(in); {
		best := ""
		for v := range values {
			if v != "" && len(v) > len(best) && bytes.HasPrefix(in[i:], []byte(v)) {
				best = v
			}
		}
		if best == "" {
			out = append(out, in[i])
			i++
			continue
		}
		out = append(out, values[best]...)
		i += len(best)
	}
	return out
}

// chunked writes in to a Writer of r in the pieces cuts gives and returns
// the output.
func chunked(t testing.TB, r *Redactor, in []byte, cuts []int) []byte {
	var out bytes.Buffer
	w := r.Writer(&out)
	prev := 0
	for _, c := range cuts {
		if c < prev || c > len(in) {
			continue
		}
		if _, err := w.Write(in[prev:c]); err != nil {
			t.Fatal(err)
		}
		prev = c
	}
	if _, err := w.Write(in[prev:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestString(t *testing.T) {
	r := New(map[string]string{
		"sk-script-secret": "[vault://global/openai]",
		"sk-script":        "[vault://global/short]",
		"hunter2":          "[vault://user:alice/pw]",
		"x":                "[x]",
	}, false)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"nothing here", "nothing here"},
		{"key=sk-script-secret;", "key=[vault://global/openai];"},
		{"key=sk-script-secre", "key=[vault://global/short]-secre"}, // the longest that matches
		{"hunter2hunter2", "[vault://user:alice/pw][vault://user:alice/pw]"},
		{"hunterhunter2", "hunter[vault://user:alice/pw]"},
		{"xx", "[x][x]"},
		{"\x00\xffhunter2\n", "\x00\xff[vault://user:alice/pw]\n"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := chunked(t, r, []byte(tc.in), []int{1, 2, 3, 5, 8, 13}); string(got) != tc.want {
			t.Errorf("chunked(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A value written one byte at a time is masked; bytes that cannot start a
// value are passed on in the same write; what is held back is a proper
// prefix of a value, and Close flushes it.
func TestWriterHoldback(t *testing.T) {
	r := New(map[string]string{"secret": "[vault://global/s]"}, false)
	if r.MaxHoldback() != 5 {
		t.Fatalf("MaxHoldback = %d", r.MaxHoldback())
	}
	var out bytes.Buffer
	w := r.Writer(&out)
	step := func(in, want string) {
		t.Helper()
		if _, err := w.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("after writing %q: output %q, want %q", in, out.String(), want)
		}
	}
	step("prompt> ", "prompt> ")
	for _, c := range "secre" {
		step(string(c), "prompt> ") // each still a prefix: held
	}
	step("t", "prompt> [vault://global/s]")
	step("sec", "prompt> [vault://global/s]")
	step("x", "prompt> [vault://global/s]secx") // no longer a prefix: passed on
	step("sesecret", "prompt> [vault://global/s]secxse[vault://global/s]")
	step("se", "prompt> [vault://global/s]secxse[vault://global/s]")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "prompt> [vault://global/s]secxse[vault://global/s]se"; out.String() != want {
		t.Fatalf("after Close: %q, want %q", out.String(), want)
	}
	if _, err := w.Write([]byte("a")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

// Random values and inputs built from a small alphabet, so that values
// overlap and nest: every split gives the reference output.
func TestWriterRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[rng.IntN(3)]
		}
		return string(b)
	}
	for iter := 0; iter < 2000; iter++ {
		values := map[string]string{}
		for range 1 + rng.IntN(8) {
			values[word(1+rng.IntN(6))] = fmt.Sprintf("<%d>", len(values))
		}
		r := New(values, false)
		// Also the scans that many values take: by 4-byte hashes (values
		// of 4+ bytes) and byte by byte.
		switch iter % 3 {
		case 1:
			r.anchors = nil
		case 2:
			r.anchors = nil
			r.quads = nil
		}
		in := []byte(word(rng.IntN(60)))
		want := naive(values, in)
		if got := r.Bytes(in); !bytes.Equal(got, want) {
			t.Fatalf("values %q, input %q: Bytes %q, want %q", values, in, got, want)
		}
		var cuts []int
		for c := 0; c < len(in); c += 1 + rng.IntN(4) {
			cuts = append(cuts, c)
		}
		if got := chunked(t, r, in, cuts); !bytes.Equal(got, want) {
			t.Fatalf("values %q, input %q, cuts %v: %q, want %q", values, in, cuts, got, want)
		}
	}
}

func TestPatterns(t *testing.T) {
	r := Patterns()
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
	for _, tc := range []struct{ in, want string }{
		{"key sk-proj-abcdefghijklmnopqrstuvwxyz012345 end", "key [redacted:openai] end"},
		{"sk-abcdefghijklmnopqrstuvwx", "[redacted:openai]"},
		{"token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [redacted:github]"},
		{"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "[redacted:github]"},
		{"xoxb-1234567890-abcdefghij", "[redacted:slack]"},
		{"id=AKIAIOSFODNN7EXAMPLE,", "id=[redacted:aws],"},
		{"Authorization: Bearer abc.def-ghi_jkl==", "Authorization: Bearer [redacted:bearer]"},
		{"authorization: bearer Zm9vYmFyYmF6", "authorization: bearer [redacted:bearer]"},
		{"t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl;", "t=[redacted:jwt];"},
		{"before\n" + pem + "\nafter", "before\n[redacted:private_key]\nafter"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEow truncated", "[redacted:private_key]"},
		// Ordinary text passes unchanged.
		{"sk-short task-force AKIA bearer of news eyJ.x ghp_ xoxb-", "sk-short task-force AKIA bearer of news eyJ.x ghp_ xoxb-"},
		{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Without patterns, none of this is touched.
	if in := "sk-abcdefghijklmnopqrstuvwx"; New(nil, false).String(in) != in {
		t.Error("patterns applied with patterns off")
	}
	// Known values come first, then patterns.
	r = New(map[string]string{"sk-known-value-abcdefghijklmnop": "[vault://global/k]"}, true)
	if got := r.String("sk-known-value-abcdefghijklmnop sk-other-value-abcdefghijklmnop"); got != "[vault://global/k] [redacted:openai]" {
		t.Errorf("got %q", got)
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	r := New(map[string]string{"hunter2": "[vault://user:alice/pw]"}, true)
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil), r))
	log = log.With("ctx", "pw hunter2").WithGroup("g")
	log.Info("got hunter2 and sk-abcdefghijklmnopqrstuvwx",
		"s", "Bearer abcdefghijklmnop",
		"err", errors.New("bad token ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
		"b", []byte("hunter2"),
		"n", 42,
		slog.Group("sub", "x", "hunter2"),
		"plain", errors.New("nothing secret"))
	out := buf.String()
	for _, bad := range []string{"hunter2", "sk-abc", "abcdefghijklmnop\"", "ghp_"} {
		if strings.Contains(out, bad) {
			t.Errorf("log line contains %q: %s", bad, out)
		}
	}
	for _, want := range []string{`"msg":"got [vault://user:alice/pw] and [redacted:openai]"`, `"ctx":"pw [vault://user:alice/pw]"`,
		`"s":"Bearer [redacted:bearer]"`, `"err":"bad token [redacted:github]"`, `"n":42`, `"sub":{"x":"[vault://user:alice/pw]"}`, `"plain":"nothing secret"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s: %s", want, out)
		}
	}
	if !Handler(slog.NewJSONHandler(&buf, nil), r).Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled")
	}
}

func TestZero(t *testing.T) {
	r := New(map[string]string{"hunter2": "[x]"}, false)
	e := r.entries[0].value
	r.Zero()
	if !bytes.Equal(e, make([]byte, 7)) {
		t.Fatalf("value not zeroed: %q", e)
	}
}

// FuzzWriter: whatever the values, the input and its split into writes,
// the output equals the reference (naive) replacement, equals the output of
// one write and of String, contains no value, and is the input itself when
// the input contains no value. Labels use a byte that values never hold, so
// that a value cannot appear across a label.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("the key is sk-secret, again sk-secret"), "sk-secret", "sk-", "secret", uint64(3))
	f.Add([]byte("aaaaaaaab"), "aab", "aaa", "a", uint64(1))
	f.Add([]byte("abcabcabd"), "abcabd", "bca", "cab", uint64(7))
	f.Add([]byte("\xff\xfe\x00secret"), "\xfe", "secret", "t", uint64(0))
	f.Fuzz(func(t *testing.T, in []byte, v1, v2, v3 string, seed uint64) {
		values := map[string]string{}
		for i, v := range []string{v1, v2, v3} {
			v = strings.ReplaceAll(v, "\x00", "")
			if v != "" {
				values[v] = "\x00" + strings.Repeat("\x00", i)
			}
		}
		r := New(values, false)
		want := naive(values, in)
		if got := r.Bytes(in); !bytes.Equal(got, want) {
			t.Fatalf("Bytes = %q, want %q", got, want)
		}
		rng := rand.New(rand.NewPCG(seed, 0))
		var cuts []int
		for c := 0; c < len(in); c += 1 + rng.IntN(5) {
			cuts = append(cuts, c)
		}
		got := chunked(t, r, in, cuts)
		if !bytes.Equal(got, want) {
			t.Fatalf("chunked %v = %q, want %q", cuts, got, want)
		}
		one := chunked(t, r, in, nil)
		if !bytes.Equal(one, got) {
			t.Fatalf("one write %q != chunked %q", one, got)
		}
		// The scans for many values give the same.
		for _, variant := range []func(*Redactor){
			func(r *Redactor) { r.anchors = nil },
			func(r *Redactor) { r.anchors, r.quads = nil, nil },
		} {
			r := New(values, false)
			variant(r)
			if other := chunked(t, r, in, cuts); !bytes.Equal(other, want) {
				t.Fatalf("other scan: %q, want %q", other, want)
			}
		}
		found := false
		for v := range values {
			if bytes.Contains(got, []byte(v)) {
				t.Fatalf("value %q in output %q", v, got)
			}
			found = found || bytes.Contains(in, []byte(v))
		}
		if !found && !bytes.Equal(got, in) {
			t.Fatalf("input without values changed: %q -> %q", in, got)
		}
	})
}

// FuzzString: String with patterns never panics, is idempotent on its own
// output, and leaves input without values or credential shapes unchanged
// (checked on inputs of lower-case letters and spaces).
func FuzzString(f *testing.F) {
	f.Add("Bearer abcdefghijk sk-abcdefghijklmnopqrstuvwxyz", "abc")
	f.Add("-----BEGIN PRIVATE KEY-----\nxx", "xx")
	f.Add("plain words only", "zzz")
	f.Fuzz(func(t *testing.T, in, v string) {
		r := New(map[string]string{v: "[vault://global/k]"}, true)
		out := r.String(in)
		if v != "" && !strings.ContainsAny(v, "[]") && !strings.Contains("[vault://global/k][redacted:private_key jwt bearer openai github slack aws]", v) && strings.Contains(out, v) {
			t.Fatalf("value %q in %q", v, out)
		}
		if again := Patterns().String(out); again != out {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
		if v != "" && !strings.Contains(in, v) && strings.Trim(in, "abcdefghijklmnopqrstuvwxyz ") == "" && out != in {
			t.Fatalf("changed %q -> %q", in, out)
		}
	})
}

// BenchmarkWriter streams 1 MiB writes of text (base64-like, with values'
// first bytes common in it) through a Writer that knows 16 values of 40
// bytes (and with 1 and 100 values).
func BenchmarkWriter(b *testing.B) {
	b.Run("values=16", func(b *testing.B) { benchWriter(b, 16) })
	b.Run("values=1", func(b *testing.B) { benchWriter(b, 1) })
	b.Run("values=100", func(b *testing.B) { benchWriter(b, 100) })
	b.Run("values=100,distinct", func(b *testing.B) { benchWriter(b, -100) })
}

func benchWriter(b *testing.B, nvalues int) {
	values := map[string]string{}
	rng := rand.New(rand.NewPCG(3, 4))
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\n "
	text := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = alpha[rng.IntN(len(alpha))]
		}
		return p
	}
	// nvalues < 0: values with distinct beginnings, beyond the anchored scan.
	prefix := "sk-"
	if nvalues < 0 {
		nvalues, prefix = -nvalues, ""
	}
	for i := range nvalues {
		values[prefix+string(text(40-len(prefix)))] = fmt.Sprintf("[vault://global/k%d]", i)
	}
	chunk := text(1 << 20)
	r := New(values, false)
	b.SetBytes(int64(len(chunk)))
	w := r.Writer(discard{})
	for b.Loop() {
		w.Write(chunk)
	}
	w.Close()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Each scan is the reference on values that take it by themselves too.
func TestScanChoice(t *testing.T) {
	few := New(map[string]string{"sk-aaaa": "1", "sk-bbbb": "2"}, false)
	if few.anchors == nil {
		t.Error("few values: no anchors")
	}
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprintf("%c%c-value", 'A'+i%26, 'a'+i/26)] = fmt.Sprint(i)
	}
	r := New(many, false)
	if r.anchors != nil || r.quads == nil {
		t.Errorf("many values: anchors %d, quads %v", len(r.anchors), r.quads != nil)
	}
	in := []byte("xxAa-valueBa-valuBb-value\nZa-value Ab-valu")
	if got, want := chunked(t, r, in, []int{3, 11, 12, 40}), naive(many, in); !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	many["Q"] = "q"
	if r := New(many, false); r.anchors != nil || r.quads != nil {
		t.Error("a one-byte value among many: want the byte-by-byte scan")
	}
}

// TestTruncated: output cut at any byte never ends with the first bytes
// of a known value (the rest of the secret was cut off), whichever scan
// the values select; a whole value is masked; a tail that cannot start a
// value is kept.
func TestTruncated(t *testing.T) {
	secret := "s3cr3t-value-42"
	many := map[string]string{secret: "[S]"}
	for i := range 40 {
		many[fmt.Sprintf("other-value-%02d", i)] = "[O]"
	}
	for name, values := range map[string]map[string]string{"few": {secret: "[S]"}, "many": many} {
		r := New(values, false)
		for n := 0; n <= len(secret); n++ {
			in := "xxxx " + secret[:n]
			got := string(r.Truncated([]byte(in)))
			switch {
			case n == len(secret):
				if got != "xxxx [S]" {
					t.Errorf("%s: whole value: %q", name, got)
				}
			case n > 0 && strings.HasSuffix(got, secret[:n]):
				t.Errorf("%s: cut after %d bytes: %q ends with the secret's prefix", name, n, got)
			case got != "xxxx ":
				t.Errorf("%s: cut after %d bytes: %q, want %q", name, n, got, "xxxx ")
			}
		}
		if got := string(r.Truncated([]byte("xxxx yz"))); got != "xxxx yz" {
			t.Errorf("%s: a tail that starts no value: %q", name, got)
		}
	}
}
