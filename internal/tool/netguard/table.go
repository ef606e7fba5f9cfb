package netguard

import (
	"encoding/binary"
	"net/netip"
)

type classEntry struct {
	class    Class
	prefixes []netip.Prefix
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// metadataPrefixes are cloud instance metadata and credential endpoints:
// AWS IMDS (169.254.169.254, fd00:ec2::254), ECS task metadata
// (169.254.170.2), EKS Pod Identity (169.254.170.23, fd00:ec2::23), Alibaba
// Cloud (100.100.100.200). GCP, Azure, Oracle, DigitalOcean and OpenStack use
// 169.254.169.254 too. Everything in 169.254.0.0/16 is refused as LinkLocal
// anyway; naming these keeps them refused when LinkLocal, Private or
// SharedCGNAT is allowed.
var metadataPrefixes = prefixes(
	"169.254.169.254/32", "169.254.170.2/32", "169.254.170.23/32",
	"100.100.100.200/32",
	"fd00:ec2::254/128", "fd00:ec2::23/128",
)

// v4Table is checked in order; the first prefix containing an address
// decides its class (IANA IPv4 Special-Purpose Address Registry).
var v4Table = []classEntry{
	{Unspecified, prefixes("0.0.0.0/8")}, // "this network"; Linux connects 0.0.0.0 to the local host
	{Broadcast, prefixes("255.255.255.255/32")},
	{Metadata, metadataPrefixes[:4]},
	{Loopback, prefixes("127.0.0.0/8")},
	{Private, prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")},
	{LinkLocal, prefixes("169.254.0.0/16")},
	{SharedCGNAT, prefixes("100.64.0.0/10")},
	{Multicast, prefixes("224.0.0.0/4")},
	{Documentation, prefixes("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")},
	{Reserved, prefixes(
		"192.0.0.0/24",    // IETF protocol assignments (incl. DS-Lite, NAT64 discovery)
		"192.31.196.0/24", // AS112
		"192.52.193.0/24", // AMT
		"192.88.99.0/24",  // deprecated 6to4 relay anycast
		"192.175.48.0/24", // AS112 direct delegation
		"198.18.0.0/15",   // benchmarking
		"240.0.0.0/4",     // reserved for future use
	)},
}

// v6Table is checked in order, after the IPv4-carrying forms were unwrapped
// by CheckIP. Anything outside 2000::/3 not listed here is Reserved.
var v6Table = []classEntry{
	{Unspecified, prefixes("::/128")},
	{Metadata, metadataPrefixes[4:]},
	{Loopback, prefixes("::1/128")},
	{Private, prefixes("fc00::/7", "fec0::/10", "64:ff9b:1::/48")},
	{LinkLocal, prefixes("fe80::/10")},
	{Multicast, prefixes("ff00::/8")},
	{Documentation, prefixes("2001:db8::/32", "3fff::/20")},
	{Reserved, prefixes(
		"100::/64",  // discard-only
		"2001::/23", // IETF protocol assignments (Teredo 2001::/32 is unwrapped before)
	)},
}

var globalUnicast = netip.MustParsePrefix("2000::/3")

var (
	compatPrefix = netip.MustParsePrefix("::/96")
	siitPrefix   = netip.MustParsePrefix("::ffff:0:0:0/96")
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	teredo       = netip.MustParsePrefix("2001::/32")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address reaches when it is
// one of the IPv4-carrying forms, and the form's name. For Teredo the
// client address (the obfuscated low 32 bits) is returned; CheckIP checks
// the server address (bits 32-63) too, see teredoServer.
func embeddedIPv4(addr netip.Addr) (netip.Addr, string, bool) {
	if !addr.Is6() && !addr.Is4In6() {
		return netip.Addr{}, "", false
	}
	b := addr.As16()
	low := netip.AddrFrom4([4]byte(b[12:16]))
	switch {
	case addr.Is4In6():
		return low, "IPv4-mapped", true
	case nat64Prefix.Contains(addr):
		return low, "NAT64", true
	case siitPrefix.Contains(addr):
		return low, "SIIT IPv4-translated", true
	case compatPrefix.Contains(addr) && binary.BigEndian.Uint32(b[12:16]) > 1:
		// ::/96 except :: and ::1, which are Unspecified and Loopback.
		return low, "IPv4-compatible", true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4", true
	case teredo.Contains(addr):
		var c [4]byte
		for i := range c {
			c[i] = b[12+i] ^ 0xff
		}
		return netip.AddrFrom4(c), "Teredo", true
	}
	return netip.Addr{}, "", false
}

// teredoServer returns the Teredo server address of a 2001::/32 address.
func teredoServer(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() || !teredo.Contains(addr) {
		return netip.Addr{}, false
	}
	b := addr.As16()
	return netip.AddrFrom4([4]byte(b[4:8])), true
}
