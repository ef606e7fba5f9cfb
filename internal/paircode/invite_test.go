package paircode

import (
	"errors"
	"strings"
	"testing"
)

const fp = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestInviteURI(t *testing.T) {
	inv := Invite{Code: Code{17, "482913"}, TCP: "192.0.2.1:7443", QUIC: "[2001:db8::1]:7443", CAFingerprint: fp}
	want := "palyra://pair?v=1&code=17-482913&tcp=192.0.2.1%3A7443&quic=%5B2001%3Adb8%3A%3A1%5D%3A7443&ca=" + fp
	if got := inv.URI(); got != want {
		t.Fatalf("URI() =\n%s\nwant\n%s", got, want)
	}
	if got := (Invite{Code: Code{3, "000001"}}).URI(); got != "palyra://pair?v=1&code=3-000001" {
		t.Errorf("bare URI() = %s", got)
	}
	for _, in := range []Invite{inv, {Code: Code{3, "000001"}}, {Code: Code{9, "123456"}, QUIC: "palyra.example.com:443"}} {
		got, err := ParseInvite(in.URI())
		if err != nil || got != in {
			t.Errorf("ParseInvite(%s) = %+v, %v; want %+v", in.URI(), got, err, in)
		}
	}
}

func TestParseInvite(t *testing.T) {
	base := "palyra://pair?v=1&code=17-482913"
	code := Code{17, "482913"}
	ok := []struct {
		in   string
		want Invite
	}{
		{"17-482913", Invite{Code: code}},
		{" 17-482 913 ", Invite{Code: code}},
		{base, Invite{Code: code}},
		{"palyra://pair?code=17-482913&v=1", Invite{Code: code}},
		{"PALYRA://pair?v=1&code=17-482913", Invite{Code: code}},
		{base + "&tcp=127.0.0.1:7443", Invite{Code: code, TCP: "127.0.0.1:7443"}},
		{base + "&tcp=127.0.0.1%3A7443&quic=host-1.example:1", Invite{Code: code, TCP: "127.0.0.1:7443", QUIC: "host-1.example:1"}},
		{base + "&quic=[::1]:65535", Invite{Code: code, QUIC: "[::1]:65535"}},
		{base + "&ca=" + fp, Invite{Code: code, CAFingerprint: fp}},
		{"palyra://pair?v=1&code=17-482+913", Invite{Code: code}},
	}
	for _, tc := range ok {
		got, err := ParseInvite(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseInvite(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"",
		"palyra://pair",
		"palyra://pair?code=17-482913",     // no version
		"palyra://pair?v=2&code=17-482913", // unknown version
		"palyra://pair?v=1",                // no code
		"palyra://pair?v=1&code=17-48291",  // short secret
		base + "&v=1",                      // duplicate
		"palyra://pair?v=1&code=17-482913&code=17-482913",
		base + "&x=1",                           // unknown
		base + "&482913",                        // unknown, bare key (not echoed)
		base + "&tcp=",                          // empty
		base + "&tcp",                           // empty
		base + "&tcp=127.0.0.1",                 // no port
		base + "&tcp=127.0.0.1:0",               // port 0
		base + "&tcp=127.0.0.1:65536",           // port too large
		base + "&tcp=127.0.0.1:07443",           // leading zero
		base + "&tcp=127.0.0.1:-1",              // sign
		base + "&tcp=:7443",                     // no host
		base + "&quic=::1:7443",                 // IPv6 without brackets
		base + "&quic=[fe80::1%25eth0]:7443",    // zone
		base + "&quic=[0:0::1]:1",               // non-canonical form
		base + "&quic=[example.com]:1",          // brackets around a name
		base + "&tcp=host_name:1",               // not LDH
		base + "&tcp=-host:1",                   // leading hyphen
		base + "&tcp=host.:1",                   // trailing dot
		base + "&tcp=a..b:1",                    // empty label
		base + "&ca=" + strings.ToUpper(fp),     // uppercase
		base + "&ca=" + fp[:62],                 // short
		base + "&ca=" + fp + "00",               // long
		base + "&ca=" + fp[:63] + "g",           // not hex
		base + "&tcp=%zz",                       // bad escape
		base + ";tcp=127.0.0.1:1",               // semicolon is not a separator
		base + "#frag",                          // fragment
		"palyra://pair/?v=1&code=17-482913",     // path
		"palyra://pair:1?v=1&code=17-482913",    // port
		"palyra://user@pair?v=1&code=17-482913", // user
		"palyra://other?v=1&code=17-482913",     // host
		"palyra:pair?v=1&code=17-482913",        // opaque
		"https://pair?v=1&code=17-482913",       // scheme (read as a code)
		"palyra://pair?v=1&code=17-482913&" + strings.Repeat("x", 2048),
	}
	for _, in := range bad {
		got, err := ParseInvite(in)
		if err == nil {
			t.Errorf("ParseInvite(%q) = %+v, want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseInvite(%q) error %v does not wrap ErrInvalid", in, err)
		}
		if strings.Contains(err.Error(), "482") {
			t.Errorf("ParseInvite(%q) error %q echoes the secret", in, err)
		}
	}
}

func FuzzParseInvite(f *testing.F) {
	for _, s := range []string{
		"17-482913",
		"palyra://pair?v=1&code=17-482913",
		"palyra://pair?v=1&code=17-482913&tcp=127.0.0.1%3A7443&quic=%5B%3A%3A1%5D%3A7443&ca=" + fp,
		"palyra://pair?v=1&code=1-000000&tcp=palyra.example.com:443",
		"palyra://pair?v=2&code=17-482913",
		"palyra://pair?v=1&code=17-482913&code=1-000000",
		"palyra://pair?v=1&code=17-482913&tcp=%zz",
		"palyra://pair?v=1&code=17-482913#x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvite(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := inv.Code.validate(); err != nil {
			t.Fatalf("ParseInvite(%q) returned an invalid code: %v", s, err)
		}
		again, err := ParseInvite(inv.URI())
		if err != nil || again != inv {
			t.Fatalf("ParseInvite(URI()) = %+v, %v; want %+v (URI %s)", again, err, inv, inv.URI())
		}
	})
}
