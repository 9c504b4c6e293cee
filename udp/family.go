package udp

import (
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// Address families. UDP runs over IPv4 and IPv6; a socket bound to the
// IPv6 wildcard (::) takes IPv4 datagrams too unless it is IPv6-only
// ("udp6"), as on Linux with net.ipv6.bindv6only = 0, which is what Go's
// net.ListenPacket("udp", ":53") gives.

// MaxPayload6 is the largest UDP payload an IPv6 datagram carries: the
// 16-bit payload length field counts the UDP header but not the 40-byte
// IPv6 header, so 65535 less the 8-byte UDP header (jumbograms, RFC 2675,
// are not supported).
const MaxPayload6 = 65535 - HeaderLen

// maxPayloadTo is the largest payload of a datagram to dst.
func maxPayloadTo(dst netip.Addr) int {
	if dst.Is6() {
		return MaxPayload6
	}
	return MaxPayload
}

// errAddrFamily is returned for an address of a family the network or the
// socket's binding excludes.
var errAddrFamily = stack.NewError("address family not supported: udp4 and sockets bound to IPv4 take IPv4 addresses, udp6 and sockets bound to IPv6 IPv6 ones", syscall.EAFNOSUPPORT)

// family is the set of IP versions a network name or a binding allows.
type family uint8

const (
	family4 family = 1 << iota
	family6
	familyAny = family4 | family6
)

// parseNetwork maps "udp", "udp4" and "udp6" to the families they allow.
func parseNetwork(network string) (family, bool) {
	switch network {
	case "udp", "":
		return familyAny, true
	case "udp4":
		return family4, true
	case "udp6":
		return family6, true
	}
	return 0, false
}

// familyOf is the family of a (normalized) address.
func familyOf(a netip.Addr) family {
	if a.Is4() {
		return family4
	}
	return family6
}

// normalize unmaps an IPv4-mapped address (::ffff:a.b.c.d is a.b.c.d, as
// in Go's net) and drops a zone (the route chose the interface).
func normalize(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// bindAddr resolves the address a socket binds for network family f and
// the requested address a: the zero Addr (":53") and :: bind the IPv6
// wildcard, dual-stack under "udp" and IPv6-only under "udp6"; "udp4" or
// the address 0.0.0.0 binds the IPv4 wildcard only. A specific address
// must be of an allowed family.
func bindAddr(f family, a netip.Addr) (addr netip.Addr, v6only bool, err error) {
	if !a.IsValid() {
		switch f {
		case family4:
			return netip.IPv4Unspecified(), false, nil
		case family6:
			return netip.IPv6Unspecified(), true, nil
		}
		return netip.IPv6Unspecified(), false, nil
	}
	a = normalize(a)
	if f&familyOf(a) == 0 {
		return netip.Addr{}, false, errAddrFamily
	}
	return a, f == family6 && a.IsUnspecified(), nil
}

// covers reports which families a socket bound to a (v6only or not)
// takes.
func covers(a netip.Addr, v6only bool) family {
	switch {
	case a.Is4():
		return family4
	case a.IsUnspecified() && !v6only:
		return familyAny
	}
	return family6
}

// takes reports whether c, bound to a wildcard, takes datagrams to dst's
// family.
func (c *Conn) takes(dst netip.Addr) bool {
	return covers(c.local.Addr(), c.v6only)&familyOf(dst) != 0
}
