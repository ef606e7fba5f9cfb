// Package netguard decides whether an outbound HTTP request may go to a URL
// and to an IP address. It is the server-side request forgery (SSRF) guard of
// the http.fetch tool: CheckURL refuses URLs that are ambiguous or that some
// resolver could read differently from us, and CheckIP refuses every address
// that is not plainly a public unicast address, unless an explicit Allow lets
// a prefix through.
//
// The package has no policy of its own and does no I/O: the caller (the tool
// adapter) turns what the authorization policy granted into an Allow value.
//
// Address classes follow the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (RFC 6890 and updates). IPv6 forms that carry an IPv4 address
// (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, SIIT ::ffff:0:0:0/96,
// NAT64 64:ff9b::/96 of RFC 6052, 6to4 2002::/16 of RFC 3056, Teredo
// 2001::/32 of RFC 4380) are judged by the IPv4 address they reach, so
// ::ffff:127.0.0.1 is refused as loopback. IPv6 outside global unicast
// (2000::/3) is refused as reserved.
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
)

// Class names a kind of address that is refused unless allowed.
type Class string

// The refused classes, checked most specific first (169.254.169.254 is
// Metadata, not LinkLocal). Their string values appear in error messages.
const (
	Unspecified   Class = "unspecified"   // 0.0.0.0/8, ::
	Broadcast     Class = "broadcast"     // 255.255.255.255
	Metadata      Class = "metadata"      // cloud instance metadata endpoints (see metadataPrefixes)
	Loopback      Class = "loopback"      // 127.0.0.0/8, ::1
	Private       Class = "private"       // RFC 1918, ULA fc00::/7, site-local fec0::/10, local-use NAT64 64:ff9b:1::/48
	LinkLocal     Class = "link-local"    // 169.254.0.0/16, fe80::/10
	SharedCGNAT   Class = "cgnat"         // 100.64.0.0/10 (RFC 6598)
	Multicast     Class = "multicast"     // 224.0.0.0/4, ff00::/8
	Documentation Class = "documentation" // TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20
	Reserved      Class = "reserved"      // other special-purpose space: 240/4, 192.0.0/24, 198.18/15, IPv6 outside 2000::/3, ...
)

// ErrBlocked is wrapped by every refusal of an address (a *BlockedError).
var ErrBlocked = errors.New("address refused")

// BlockedError says which address was refused and why.
type BlockedError struct {
	Addr  netip.Addr // the address checked
	Class Class      // the class that refused it
	// Embedded is the IPv4 address that decided, when Addr is an IPv6 form
	// carrying one (Via names the form); otherwise invalid.
	Embedded netip.Addr
	Via      string
	// Zone is set when the address carried an IPv6 zone (always refused).
	Zone bool
}

func (e *BlockedError) Error() string {
	switch {
	case e.Zone:
		return fmt.Sprintf("%s: %s has an IPv6 zone (scoped addresses are never fetched)", ErrBlocked, e.Addr)
	case e.Embedded.IsValid():
		return fmt.Sprintf("%s: %s embeds %s (%s), which is %s", ErrBlocked, e.Addr, e.Embedded, e.Via, e.Class)
	default:
		return fmt.Sprintf("%s: %s is %s", ErrBlocked, e.Addr, e.Class)
	}
}

// Unwrap makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Unwrap() error { return ErrBlocked }

// Allow lists the exceptions a policy grants. The zero value allows nothing
// but public unicast addresses.
type Allow struct {
	// Prefixes are allowed whatever their class (e.g. 127.0.0.1/32 for a
	// test server, 10.1.2.0/24 for one internal service). An IPv6 form
	// embedding an IPv4 address is allowed when the IPv4 address is.
	Prefixes []netip.Prefix
}

func (a Allow) permitsPrefix(addr netip.Addr) bool {
	for _, p := range a.Prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// CheckIP returns nil when addr may be connected to: a public unicast
// address, or one the Allow permits. Otherwise it returns a *BlockedError
// (wrapping ErrBlocked) naming the class. Invalid addresses and addresses
// with an IPv6 zone are always refused.
func CheckIP(addr netip.Addr, allow Allow) error {
	if !addr.IsValid() {
		return &BlockedError{Addr: addr, Class: Reserved}
	}
	if addr.Zone() != "" {
		return &BlockedError{Addr: addr, Class: LinkLocal, Zone: true}
	}
	if v4, via, ok := embeddedIPv4(addr); ok {
		if allow.permitsPrefix(addr) {
			return nil
		}
		inner := []netip.Addr{v4}
		if srv, ok := teredoServer(addr); ok {
			inner = append(inner, srv)
		}
		for _, a := range inner {
			if err := CheckIP(a, allow); err != nil {
				var be *BlockedError
				if errors.As(err, &be) {
					return &BlockedError{Addr: addr, Class: be.Class, Embedded: a, Via: via}
				}
				return err
			}
		}
		return nil
	}
	c, blocked := classify(addr)
	if !blocked || allow.permitsPrefix(addr) {
		return nil
	}
	return &BlockedError{Addr: addr, Class: c}
}

// classify returns the class of addr and whether that class is refused by
// default (refused is false for public unicast). It judges addr itself, not
// an IPv4 address it may carry: CheckIP unwraps those forms first.
func classify(addr netip.Addr) (c Class, refused bool) {
	addr = addr.WithZone("")
	table := v6Table
	if addr.Is4() {
		table = v4Table
	}
	for _, e := range table {
		for _, p := range e.prefixes {
			if p.Contains(addr) {
				return e.class, true
			}
		}
	}
	if addr.Is6() && !globalUnicast.Contains(addr) {
		return Reserved, true
	}
	return "", false
}
