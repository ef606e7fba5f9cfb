package paircode

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// URIScheme and URIHost name an invite: palyra://pair?...
const (
	URIScheme = "palyra"
	URIHost   = "pair"
	// URIVersion is the only invite format version ParseInvite accepts.
	URIVersion = "1"
)

// maxInviteLen bounds the text ParseInvite looks at: two host:port values
// (at most 253+6 bytes each, percent-encoded), a fingerprint and a code fit.
const maxInviteLen = 2048

// Invite is what a joining client needs: the code, where the daemon listens
// and, optionally, its CA fingerprint to check the CA it receives after the
// PAKE against.
type Invite struct {
	Code Code
	// TCP and QUIC are the daemon's addresses as host:port; either may be
	// empty. The host is an IP literal (IPv6 in brackets) or a DNS name.
	TCP, QUIC string
	// CAFingerprint is the lowercase hex SHA-256 of the CA certificate's DER
	// (64 characters), or empty.
	CAFingerprint string
}

// URI returns the invite as
//
//	palyra://pair?v=1&code=ID-DIGITS&tcp=HOST:PORT&quic=HOST:PORT&ca=HEX
//
// with the parameters in that order, values query-escaped, and empty
// TCP, QUIC or CAFingerprint left out. It does not validate i.
func (i Invite) URI() string {
	var b strings.Builder
	b.WriteString(URIScheme + "://" + URIHost + "?v=" + URIVersion + "&code=")
	b.WriteString(url.QueryEscape(i.Code.String()))
	for _, p := range [...]struct{ k, v string }{{"tcp", i.TCP}, {"quic", i.QUIC}, {"ca", i.CAFingerprint}} {
		if p.v != "" {
			b.WriteString("&" + p.k + "=" + url.QueryEscape(p.v))
		}
	}
	return b.String()
}

// ParseInvite reads either a bare code (see Parse) or an invite URI (see
// URI). The URI is strict: the scheme is palyra, the host pair, no user,
// port, path or fragment; v=1 and code= are required; every parameter
// appears at most once; unknown parameters, an unknown version, an empty
// value, a bad host:port and a fingerprint that is not 64 lowercase hex
// characters are errors. Errors wrap ErrInvalid and never contain the input.
func ParseInvite(s string) (Invite, error) {
	if len(s) > maxInviteLen {
		return Invite{}, fmt.Errorf("%w: invite longer than %d characters", ErrInvalid, maxInviteLen)
	}
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(strings.ToLower(s), URIScheme+":") {
		c, err := Parse(s)
		if err != nil {
			return Invite{}, err
		}
		return Invite{Code: c}, nil
	}
	// url.Parse errors quote the input; never pass them on.
	u, err := url.Parse(s)
	if err != nil {
		return Invite{}, fmt.Errorf("%w: malformed palyra:// URI", ErrInvalid)
	}
	if u.Scheme != URIScheme || u.Opaque != "" || u.User != nil || u.Host != URIHost ||
		u.Path != "" || u.Fragment != "" || u.RawFragment != "" || strings.Contains(s, "#") {
		return Invite{}, fmt.Errorf("%w: an invite URI has the form %s://%s?v=%s&code=ID-DIGITS", ErrInvalid, URIScheme, URIHost, URIVersion)
	}
	params, err := parseQuery(u.RawQuery)
	if err != nil {
		return Invite{}, err
	}
	if v, ok := params["v"]; !ok || v != URIVersion {
		if !ok {
			return Invite{}, fmt.Errorf("%w: invite URI has no version (v=%s)", ErrInvalid, URIVersion)
		}
		return Invite{}, fmt.Errorf("%w: unsupported invite version (this build reads v=%s)", ErrInvalid, URIVersion)
	}
	codeText, ok := params["code"]
	if !ok {
		return Invite{}, fmt.Errorf("%w: invite URI has no code", ErrInvalid)
	}
	var inv Invite
	if inv.Code, err = Parse(codeText); err != nil {
		return Invite{}, err
	}
	if inv.TCP, err = checkHostPort("tcp", params["tcp"]); err != nil {
		return Invite{}, err
	}
	if inv.QUIC, err = checkHostPort("quic", params["quic"]); err != nil {
		return Invite{}, err
	}
	if fp, ok := params["ca"]; ok {
		if !isLowerHex(fp) || len(fp) != 64 {
			return Invite{}, fmt.Errorf("%w: ca must be 64 lowercase hex characters (SHA-256 of the CA certificate)", ErrInvalid)
		}
		inv.CAFingerprint = fp
	}
	return inv, nil
}

var knownParams = map[string]bool{"v": true, "code": true, "tcp": true, "quic": true, "ca": true}

// parseQuery splits an &-separated query into unescaped key/value pairs,
// refusing unknown, repeated and empty parameters. url.ParseQuery would
// accept repeats and quote malformed escapes (part of the secret) in its
// errors, so the query is split here.
func parseQuery(raw string) (map[string]string, error) {
	params := make(map[string]string, len(knownParams))
	if raw == "" {
		return params, nil
	}
	for _, kv := range strings.Split(raw, "&") {
		k, v, ok := strings.Cut(kv, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: malformed percent-encoding in invite URI", ErrInvalid)
		}
		if !knownParams[key] {
			// The key is not quoted: a mistyped URI may carry the secret there.
			return nil, fmt.Errorf("%w: unknown invite parameter (known: v, code, tcp, quic, ca)", ErrInvalid)
		}
		if !ok || val == "" {
			return nil, fmt.Errorf("%w: invite parameter %s is empty", ErrInvalid, key)
		}
		if _, dup := params[key]; dup {
			return nil, fmt.Errorf("%w: invite parameter %s appears twice", ErrInvalid, key)
		}
		params[key] = val
	}
	return params, nil
}

// checkHostPort accepts "" (absent) or host:port with a port in 1..65535
// written without leading zeros, and a host that is an IP literal (IPv6 in
// brackets, no zone) or a DNS name.
func checkHostPort(name, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(s)
	bad := fmt.Errorf("%w: %s must be HOST:PORT with a port from 1 to 65535", ErrInvalid, name)
	if err != nil {
		return "", bad
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
		return "", bad
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" || net.JoinHostPort(ip.String(), port) != s {
			return "", fmt.Errorf("%w: %s must use the canonical IP address form without a zone", ErrInvalid, name)
		}
		return s, nil
	}
	if strings.HasPrefix(s, "[") || !isDNSName(host) {
		return "", fmt.Errorf("%w: %s host must be an IP address or a DNS name", ErrInvalid, name)
	}
	return s, nil
}

// isDNSName reports whether s is a DNS name of LDH labels (1..63 bytes, no
// leading or trailing hyphen), at most 253 bytes, without a trailing dot.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}
