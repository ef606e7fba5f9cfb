package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckIPRefusesEveryNonPublicClass(t *testing.T) {
	cases := []struct {
		addr  string
		class Class
	}{
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		{"::", Unspecified},
		{"255.255.255.255", Broadcast},
		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"::1", Loopback},
		{"10.0.0.1", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"192.168.1.1", Private},
		{"fc00::1", Private},
		{"fd12:3456::1", Private},
		{"fec0::1", Private},
		{"64:ff9b:1::a00:1", Private},
		{"169.254.0.1", LinkLocal},
		{"fe80::1", LinkLocal},
		{"febf::1", LinkLocal},
		{"169.254.169.254", Metadata},
		{"169.254.170.2", Metadata},
		{"169.254.170.23", Metadata},
		{"100.100.100.200", Metadata},
		{"fd00:ec2::254", Metadata},
		{"fd00:ec2::23", Metadata},
		{"100.64.0.1", SharedCGNAT},
		{"100.127.255.255", SharedCGNAT},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"ff02::1", Multicast},
		{"192.0.2.1", Documentation},
		{"198.51.100.7", Documentation},
		{"203.0.113.9", Documentation},
		{"2001:db8::1", Documentation},
		{"3fff::1", Documentation},
		{"240.0.0.1", Reserved},
		{"192.0.0.8", Reserved},
		{"198.18.0.1", Reserved},
		{"192.88.99.1", Reserved},
		{"100::1", Reserved},
		{"2001:2::1", Reserved},
		{"4000::1", Reserved},   // outside 2000::/3
		{"::2:3:4:5", Reserved}, // not an embedding form, not global unicast
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		err := CheckIP(a, Allow{})
		var be *BlockedError
		if !errors.As(err, &be) || !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckIP(%s) = %v, want a refusal", c.addr, err)
			continue
		}
		if be.Class != c.class {
			t.Errorf("CheckIP(%s) class %s, want %s", c.addr, be.Class, c.class)
		}
		if !strings.Contains(err.Error(), string(c.class)) || !strings.Contains(err.Error(), c.addr) {
			t.Errorf("CheckIP(%s) error %q does not name the address and class", c.addr, err)
		}
	}
}

func TestCheckIPRefusesEmbeddedForms(t *testing.T) {
	cases := []struct {
		addr, via, embedded string
		class               Class
	}{
		{"::ffff:127.0.0.1", "IPv4-mapped", "127.0.0.1", Loopback},
		{"::ffff:169.254.169.254", "IPv4-mapped", "169.254.169.254", Metadata},
		{"::127.0.0.1", "IPv4-compatible", "127.0.0.1", Loopback},
		{"::10.0.0.1", "IPv4-compatible", "10.0.0.1", Private},
		{"::ffff:0:10.1.1.1", "SIIT IPv4-translated", "10.1.1.1", Private},
		{"64:ff9b::7f00:1", "NAT64", "127.0.0.1", Loopback},
		{"64:ff9b::a9fe:a9fe", "NAT64", "169.254.169.254", Metadata},
		{"2002:7f00:1::1", "6to4", "127.0.0.1", Loopback},
		{"2002:a00:1::", "6to4", "10.0.0.1", Private},
		// Teredo: server 65.54.227.120 (public); client 127.0.0.1 obfuscated as 80ff:fffe.
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo", "127.0.0.1", Loopback},
		// Teredo with a private server address and a public client 8.8.8.8 (f7f7:f7f7).
		{"2001:0:a00:1::f7f7:f7f7", "Teredo", "10.0.0.1", Private},
	}
	for _, c := range cases {
		err := CheckIP(netip.MustParseAddr(c.addr), Allow{})
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Errorf("CheckIP(%s) = %v, want a refusal", c.addr, err)
			continue
		}
		if be.Class != c.class || be.Via != c.via || be.Embedded.String() != c.embedded {
			t.Errorf("CheckIP(%s) = %+v, want %s via %s embedding %s", c.addr, be, c.class, c.via, c.embedded)
		}
		if !strings.Contains(err.Error(), c.via) {
			t.Errorf("error %q does not name the form", err)
		}
	}
}

func TestCheckIPAcceptsPublicUnicast(t *testing.T) {
	for _, s := range []string{
		"8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "169.253.255.255",
		"2606:4700:4700::1111", "2001:4860:4860::8888",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
		"2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo, public server and client 8.8.8.8
	} {
		if err := CheckIP(netip.MustParseAddr(s), Allow{}); err != nil {
			t.Errorf("CheckIP(%s) = %v, want nil", s, err)
		}
	}
}

func TestCheckIPRefusesZonesAndInvalid(t *testing.T) {
	everything := Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("2606:4700::1%1")} {
		if err := CheckIP(a, everything); !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckIP(%v) = %v, want refusal even with every address allowed", a, err)
		}
	}
}

func TestAllowIsExact(t *testing.T) {
	only := Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	for s, ok := range map[string]bool{
		"127.0.0.1":        true,
		"::ffff:127.0.0.1": true, // the same IPv4 destination
		"127.0.0.2":        false,
		"::1":              false,
		"10.0.0.1":         false,
		"169.254.169.254":  false,
	} {
		err := CheckIP(netip.MustParseAddr(s), only)
		if (err == nil) != ok {
			t.Errorf("CheckIP(%s, 127.0.0.1/32) = %v, want allowed=%v", s, err, ok)
		}
	}
	some := Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("169.254.1.0/24"), netip.MustParsePrefix("fd00:1::/64")}}
	for _, s := range []string{"169.254.1.1", "fd00:1::1"} {
		if err := CheckIP(netip.MustParseAddr(s), some); err != nil {
			t.Errorf("CheckIP(%s) in an allowed prefix refused: %v", s, err)
		}
	}
	for _, s := range []string{"169.254.169.254", "fd00:ec2::254", "169.254.2.1", "fd00:2::1", "127.0.0.1"} {
		if err := CheckIP(netip.MustParseAddr(s), some); err == nil {
			t.Errorf("CheckIP(%s) allowed by 169.254.1.0/24+fd00:1::/64; only addresses inside a prefix may pass", s)
		}
	}
	if err := CheckIP(netip.MustParseAddr("169.254.169.254"), Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}); err != nil {
		t.Errorf("metadata allowed by its prefix refused: %v", err)
	}
}

func TestCheckURLAccepts(t *testing.T) {
	cases := []struct {
		raw, host string
		port      uint16
		literal   bool
	}{
		{"http://example.com/", "example.com", 80, false},
		{"https://EXAMPLE.com:8443/a?b=c#d", "example.com", 8443, false},
		{"https://example.com./", "example.com.", 443, false},
		{"http://93.184.216.34/", "93.184.216.34", 80, true},
		{"http://[2606:4700::1111]:8080/", "2606:4700::1111", 8080, true},
		{"https://xn--bcher-kva.example/", "xn--bcher-kva.example", 443, false},
		{"http://a_b.example/", "a_b.example", 80, false},
		{"http://1.2.3.example/", "1.2.3.example", 80, false}, // last label is not a number
		{"HTTP://example.com/", "example.com", 80, false},
	}
	for _, c := range cases {
		tg, err := CheckURL(c.raw)
		if err != nil {
			t.Errorf("CheckURL(%q) = %v", c.raw, err)
			continue
		}
		if tg.Host != c.host || tg.Port != c.port || tg.Addr.IsValid() != c.literal {
			t.Errorf("CheckURL(%q) = host %q port %d addr %v", c.raw, tg.Host, tg.Port, tg.Addr)
		}
	}
}

func TestCheckURLRefuses(t *testing.T) {
	for _, raw := range []string{
		"", "example.com", "/relative", "ftp://example.com/", "file:///etc/passwd", "gopher://x/",
		"javascript:alert(1)", "http:example.com", "http:///path", "http://",
		"http://user@example.com/", "http://user:pw@example.com/", "http://:@example.com/",
		"http://0x7f.1/", "http://0177.0.0.1/", "http://2130706433/", "http://127.1/",
		"http://0x7f000001/", "http://0x7F.0.0.1/", "http://127.0.0.1./", "http://127.0.0.01/",
		"http://1.2.3.0x4/", "http://0x/", "http://256.0.0.1/", "http://1.2.3.4.5/", "http://example.0x1/",
		"http://example.123/",
		"http://[fe80::1%25eth0]/", "http://[::1%251]/", "http://[127.0.0.1]/", "http://[::1/",
		"http://example.com:0/", "http://example.com:65536/", "http://example.com:080/",
		"http://example.com:/", "http://example.com:x/",
		"http://exa mple.com/", "http://bücher.example/", "http://a..b/", "http://.example/",
		"http://" + strings.Repeat("a", 64) + ".example/",
		"http://" + strings.Repeat("a.", 127) + "ab/",
		"http://a\x00b/", "http://example.com\\@evil/",
	} {
		if tg, err := CheckURL(raw); err == nil {
			t.Errorf("CheckURL(%q) accepted: %+v", raw, tg)
		} else if !errors.Is(err, ErrURL) {
			t.Errorf("CheckURL(%q) = %v, does not wrap ErrURL", raw, err)
		}
	}
}

func TestCheckURLErrorsOmitPathAndQuery(t *testing.T) {
	_, err := CheckURL("http://0x7f.1/p?token=hunter2")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "non-canonical") {
		t.Fatalf("error = %v", err)
	}
}
