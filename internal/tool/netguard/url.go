package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrURL is wrapped by every refusal of a URL by CheckURL.
var ErrURL = errors.New("URL refused")

// Target is a URL CheckURL accepted, with its host taken apart.
type Target struct {
	URL  *url.URL   // the parsed URL; Scheme and Host are lower-case
	Host string     // host name (lower-case, no trailing-dot change) or IP literal, without brackets
	Addr netip.Addr // the address when Host is an IP literal; invalid for names
	Port uint16     // the explicit port, or 80 for http and 443 for https
}

// CheckURL parses raw and accepts it only when it is an absolute http or
// https URL that every resolver reads the same way:
//   - scheme http or https, not opaque (no "http:host");
//   - no userinfo ("user:pass@");
//   - a host: an IPv6 literal in brackets without a zone, a canonical
//     dotted-quad IPv4 address, or a DNS name of ASCII letters, digits,
//     '-', '_' (labels of 1 to 63 bytes, at most 253 in all, one optional
//     trailing dot; internationalized names must be given as A-labels);
//   - no other numeric IPv4 form: a host whose last label is a number (all
//     digits, or 0x followed by hex digits) must be exactly a dotted quad
//     without leading zeros or a trailing dot. "0x7f.1", "0177.0.0.1",
//     "2130706433", "127.1", "0x7f000001", "127.0.0.1." are refused, not
//     normalized, because inet_aton and WHATWG parsers read them as
//     127.0.0.1 while other code reads them as names;
//   - a port, when given, of 1 to 65535 in decimal without leading zeros.
//
// CheckURL does not judge addresses; pass Target.Addr (for literals) or
// every resolved address (for names) to CheckIP. Errors wrap ErrURL and name
// the host, never the path or query (which may hold tokens).
func CheckURL(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("%w: not a URL", ErrURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Target{}, fmt.Errorf("%w: scheme %q is not http or https", ErrURL, u.Scheme)
	}
	if u.Opaque != "" {
		return Target{}, fmt.Errorf("%w: %s URL without //host", ErrURL, u.Scheme)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("%w: user information (user:password@) is not allowed", ErrURL)
	}
	if u.Host == "" {
		return Target{}, fmt.Errorf("%w: no host", ErrURL)
	}
	t := Target{URL: u}
	host, port := u.Hostname(), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return Target{}, fmt.Errorf("%w: empty port", ErrURL)
	}
	switch {
	case strings.HasPrefix(u.Host, "["):
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return Target{}, fmt.Errorf("%w: %q is not an IPv6 address", ErrURL, host)
		}
		if a.Zone() != "" {
			return Target{}, fmt.Errorf("%w: IPv6 zones are not allowed", ErrURL)
		}
		t.Host, t.Addr = a.String(), a
	case endsInNumber(host):
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return Target{}, fmt.Errorf("%w: %q is a non-canonical IPv4 address form; write the address as four decimal numbers (a.b.c.d)", ErrURL, host)
		}
		t.Host, t.Addr = a.String(), a
	default:
		if err := checkName(host); err != nil {
			return Target{}, err
		}
		t.Host = strings.ToLower(host)
	}
	t.Port = 80
	if u.Scheme == "https" {
		t.Port = 443
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || port[0] == '0' {
			return Target{}, fmt.Errorf("%w: port %q is not a number from 1 to 65535", ErrURL, port)
		}
		t.Port = uint16(n)
	}
	u.Host = strings.ToLower(u.Host)
	return t, nil
}

// endsInNumber reports whether the last label of host (ignoring one trailing
// dot) is a number as the WHATWG URL standard's IPv4 parser sees it: decimal
// digits, or "0x"/"0X" followed by hex digits (possibly none).
func endsInNumber(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return strings.Trim(last[2:], "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

func checkName(host string) error {
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%w: host name of %d bytes", ErrURL, len(name))
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%w: host %q has an empty or over-long label", ErrURL, host)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%w: host %q has a byte outside letters, digits, '-' and '_' (write internationalized names as xn-- A-labels)", ErrURL, host)
			}
		}
	}
	return nil
}
