package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://example.com/", "https://[2606:4700::1111]:8443/x", "http://0x7f.1/", "http://0177.0.0.1/",
		"http://2130706433/", "http://127.1/", "http://0x7f000001/", "http://[fe80::1%25eth0]/",
		"http://user@host/", "http://127.0.0.1./", "ftp://x/", "http://a..b/", "http://[::ffff:127.0.0.1]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := CheckURL(raw)
		if err != nil {
			if !errors.Is(err, ErrURL) {
				t.Fatalf("error does not wrap ErrURL: %v", err)
			}
			return
		}
		if tg.URL.Scheme != "http" && tg.URL.Scheme != "https" || tg.URL.User != nil || tg.Host == "" || tg.Port == 0 {
			t.Fatalf("accepted %q as %+v", raw, tg)
		}
		if tg.Addr.IsValid() {
			if tg.Addr.Zone() != "" || tg.Addr.String() != tg.Host {
				t.Fatalf("literal %q accepted as %v", raw, tg.Addr)
			}
			return
		}
		// A name must never be something an IPv4 parser reads as a number.
		if endsInNumber(tg.Host) || strings.ContainsAny(tg.Host, ":[]%@/\\ ") {
			t.Fatalf("name %q accepted from %q", tg.Host, raw)
		}
		// Accepting is stable: the canonical form is accepted the same way.
		again, err := CheckURL(tg.URL.String())
		if err != nil || again.Host != tg.Host || again.Port != tg.Port {
			t.Fatalf("re-check of %q: %+v, %v", tg.URL.String(), again, err)
		}
	})
}

func FuzzCheckIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a00:1::", "2001:0:4136:e378:8000:63bf:80ff:fffe", "8.8.8.8", "fe80::1", "::"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:], netip.MustParseAddr(s).Is4())
	}
	loopback := Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	f.Fuzz(func(t *testing.T, raw []byte, as4 bool) {
		if len(raw) != 16 {
			return
		}
		a := netip.AddrFrom16([16]byte(raw))
		if as4 && a.Is4In6() {
			a = a.Unmap()
		}
		err := CheckIP(a, Allow{})
		if err == nil {
			// Allowed by default means public: never one of the refused ranges,
			// neither directly nor through its IPv4 form.
			if c, refused := classify(a); refused {
				if _, _, embeds := embeddedIPv4(a); !embeds {
					t.Fatalf("%v allowed but classified %s", a, c)
				}
			}
			if v4, _, ok := embeddedIPv4(a); ok {
				if _, refused := classify(v4); refused {
					t.Fatalf("%v allowed but embeds %v", a, v4)
				}
			}
			if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() || a.Unmap().IsLoopback() {
				t.Fatalf("%v allowed", a)
			}
		} else if !errors.Is(err, ErrBlocked) {
			t.Fatalf("error does not wrap ErrBlocked: %v", err)
		}
		// A narrower allow never allows more.
		if err != nil && CheckIP(a, loopback) == nil {
			lo := netip.MustParseAddr("127.0.0.1")
			v4, _, _ := embeddedIPv4(a)
			srv, _ := teredoServer(a)
			if a.Unmap() != lo && v4 != lo && srv != lo {
				t.Fatalf("%v allowed by 127.0.0.1/32", a)
			}
		}
	})
}
