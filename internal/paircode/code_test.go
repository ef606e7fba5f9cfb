package paircode

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Code
		ok   bool
	}{
		{"17-482913", Code{17, "482913"}, true},
		{"1-000000", Code{1, "000000"}, true},
		{"99999-999999", Code{99999, "999999"}, true},
		{"  17-482913\n", Code{17, "482913"}, true},
		{"17-482 913", Code{17, "482913"}, true},
		{"17-482-913", Code{17, "482913"}, true},
		{"17-4 8 2 9 1 3", Code{17, "482913"}, true},

		{"", Code{}, false},
		{"17", Code{}, false},
		{"482913", Code{}, false},
		{"-482913", Code{}, false},
		{"0-482913", Code{}, false},
		{"017-482913", Code{}, false},
		{"100000-482913", Code{}, false},
		{"+17-482913", Code{}, false},
		{"17 -482913", Code{}, false},
		{"17--482913", Code{}, false},
		{"17- 482913", Code{}, false},
		{"17-48291", Code{}, false},
		{"17-4829130", Code{}, false},
		{"17-482913-", Code{}, false},
		{"17-482  913", Code{}, false},
		{"17-482--913", Code{}, false},
		{"17-48291a", Code{}, false},
		{"17-４82913", Code{}, false}, // fullwidth digit
		{"17-482913" + strings.Repeat(" ", 60), Code{}, false},
		{"17-482\t913", Code{}, false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", tc.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tc.in, err)
		}
		assertNoSecret(t, err, tc.in)
	}
}

// assertNoSecret fails if err's text contains any run of 3+ digits that is
// in the input (the secret or a part of it).
func assertNoSecret(t *testing.T, err error, in string) {
	t.Helper()
	msg := err.Error()
	for i := 0; i+3 <= len(in); i++ {
		part := in[i : i+3]
		if allDigits(part) && strings.Contains(msg, part) && !strings.Contains("99999 65535", part) {
			t.Errorf("error %q echoes input digits %q", msg, part)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, c := range []Code{{17, "482913"}, {1, "000000"}, {99999, "999999"}} {
		got, err := Parse(c.String())
		if err != nil || got != c {
			t.Errorf("Parse(%q) = %+v, %v", c.String(), got, err)
		}
	}
	if got := (Code{17, "482913"}).String(); got != "17-482913" {
		t.Errorf("String() = %q", got)
	}
}

func TestGenerate(t *testing.T) {
	c, err := Generate(17, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil || c.ID != 17 {
		t.Fatalf("Generate = %+v, %v", c, err)
	}
	for _, id := range []uint32{0, MaxID + 1} {
		if _, err := Generate(id, rand.Reader); err == nil {
			t.Errorf("Generate(%d) succeeded", id)
		}
	}
	if _, err := Generate(1, iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("Generate with a failing reader succeeded")
	}
}

// TestGenerateRejectsBiasedBytes feeds bytes 250..255, which would bias
// digits 0..5 if reduced modulo 10; they must be skipped.
func TestGenerateRejectsBiasedBytes(t *testing.T) {
	in := append(bytes.Repeat([]byte{250, 251, 252, 253, 254, 255}, 3), 9, 19, 29, 39, 49, 249)
	in = append(in, make([]byte, 32)...)
	c, err := Generate(5, bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Secret != "999999" {
		t.Errorf("Secret = %q, want 999999 (bytes >= 250 skipped)", c.Secret)
	}
}

// TestGenerateUniform checks each digit position over many codes with a
// chi-squared bound loose enough never to flake (p < 1e-9 at 9 dof is 61).
func TestGenerateUniform(t *testing.T) {
	const n = 20000
	var counts [SecretDigits][10]int
	for range n {
		c, err := Generate(1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range SecretDigits {
			counts[i][c.Secret[i]-'0']++
		}
	}
	for i, row := range counts {
		chi := 0.0
		for _, k := range row {
			d := float64(k) - n/10.0
			chi += d * d / (n / 10.0)
		}
		if chi > 61 {
			t.Errorf("digit %d: chi-squared %.1f over uniform: %v", i, chi, row)
		}
	}
}

func TestPassword(t *testing.T) {
	c := Code{17, "482913"}
	// Pinned: the daemon stores this hash, so the derivation must not drift.
	want := sha256.Sum256(append([]byte("palyra pairing code password v1\x00\x00\x00\x00\x11"), "482913"...))
	if !bytes.Equal(c.Password(), want[:]) {
		t.Fatalf("Password() = %x, want %x", c.Password(), want)
	}
	for _, other := range []Code{{18, "482913"}, {17, "482914"}} {
		if bytes.Equal(c.Password(), other.Password()) {
			t.Errorf("%v and %v have the same password", c, other)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Code{{0, "123456"}, {100000, "123456"}, {1, "12345"}, {1, "1234567"}, {1, "12345a"}} {
		err := c.validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", c, err)
		} else {
			assertNoSecret(t, err, c.Secret)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"17-482913", "1-000000", "99999-999999", " 17-482 913 ", "17-482-913", "0-1", "17--482913", "-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			// The messages are fixed texts; the secret part of the input
			// appears in one only where a fixed text happens to contain it.
			_, secret, _ := strings.Cut(s, "-")
			if countDigits(secret) >= 3 && strings.Contains(err.Error(), secret) && !strings.Contains(fixedTexts, secret) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("Parse(%q) returned an invalid code: %v", s, err)
		}
		again, err := Parse(c.String())
		if err != nil || again != c {
			t.Fatalf("Parse(String()) = %+v, %v; want %+v", again, err, c)
		}
	})
}

// fixedTexts holds the numbers Parse's messages contain.
const fixedTexts = "12-345678 1 to 99999 6 digits 64 characters"

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}
