package tcp

import (
	"net/netip"
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// Address families. TCP runs over IPv4 and IPv6 alike; what differs is the
// network header's size (20 bytes for IPv4 without options, 40 for IPv6
// without extension headers), where the ECN bits sit, the smallest path
// MTU, and which listeners a segment may reach.

// Network header lengths.
const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	// minPathMTU6 is the IPv6 minimum link MTU (RFC 8200 section 5): a
	// packet-too-big message never lowers the path MTU below it (RFC 8201
	// section 4; RFC 8021 deprecated the atomic fragments that used to go
	// with smaller values).
	minPathMTU6 = 1280
)

// netHeaderLen is the length of the network header in front of a segment
// to or from a.
func netHeaderLen(a netip.Addr) int {
	if a.Is6() {
		return ipv6HeaderLen
	}
	return ipv4HeaderLen
}

// normalize returns a as the tuples and listeners keep it: an IPv4-mapped
// IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address, as Go's net
// does, and a zone is dropped (the route chose the interface).
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// pmtuForCore converts mtu, the path MTU an ICMP or ICMPv6 error reported
// for a connection to remote, into the IPv4-equivalent MTU the core works
// with (it takes 40 bytes of IPv4 and TCP headers off): for IPv6 the MTU
// is first raised to 1280 and 20 more header bytes come off, so that the
// MSS is the path MTU less 60 (RFC 8200 section 8.3).
func pmtuForCore(remote netip.Addr, mtu int) int {
	if !remote.Is6() || mtu <= 0 {
		return mtu
	}
	return max(mtu, minPathMTU6) - (ipv6HeaderLen - ipv4HeaderLen)
}

// putTuple writes t's addresses and ports into b (at least 36 bytes) for
// the ISN and cookie hashes: 4-byte addresses for IPv4 (12 bytes in all),
// 16-byte ones for IPv6 (36 bytes). It returns the bytes written.
func putTuple(b []byte, t tuple) int {
	n := 0
	for _, a := range [2]netip.Addr{t.local.Addr(), t.remote.Addr()} {
		if a.Is4() {
			a4 := a.As4()
			n += copy(b[n:], a4[:])
		} else {
			a16 := a.As16()
			n += copy(b[n:], a16[:])
		}
	}
	b[n], b[n+1] = byte(t.local.Port()>>8), byte(t.local.Port())
	b[n+2], b[n+3] = byte(t.remote.Port()>>8), byte(t.remote.Port())
	return n + 4
}

// errAddrFamily is returned for an address of the family the network
// ("tcp4", "tcp6") excludes.
var errAddrFamily = stack.NewError("address family not supported by the network (tcp4 takes IPv4 addresses, tcp6 IPv6 ones)", syscall.EAFNOSUPPORT)

// family is the set of IP versions a network name allows.
type family uint8

const (
	family4 family = 1 << iota
	family6
	familyAny = family4 | family6
)

// parseNetwork maps "tcp", "tcp4" and "tcp6" to the families they allow.
func parseNetwork(network string) (family, bool) {
	switch network {
	case "tcp", "":
		return familyAny, true
	case "tcp4":
		return family4, true
	case "tcp6":
		return family6, true
	}
	return 0, false
}

// allows reports whether f allows the (normalized) address a.
func (f family) allows(a netip.Addr) bool {
	if a.Is4() {
		return f&family4 != 0
	}
	return f&family6 != 0
}

// listenAddr resolves the address a listener binds for network family f
// and the requested address a, the way Go's net.Listen does on Linux: the
// zero Addr (":80") and :: ("[::]:80") under "tcp" bind the IPv6 wildcard
// dual-stack, taking IPv4 connections too; "tcp6" makes it IPv6-only;
// "tcp4", or the address 0.0.0.0, binds the IPv4 wildcard only. (Go makes
// "tcp" with 0.0.0.0 dual-stack as well, a surprise this package does not
// copy: 0.0.0.0 means IPv4.) A specific address must be of an allowed
// family.
func listenAddr(f family, a netip.Addr) (addr netip.Addr, v6only bool, err error) {
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
	if !f.allows(a) {
		return netip.Addr{}, false, errAddrFamily
	}
	return a, f == family6 && a.IsUnspecified(), nil
}

// covers reports which families a listener on a (v6only or not) takes.
func covers(a netip.Addr, v6only bool) family {
	switch {
	case a.Is4():
		return family4
	case a.IsUnspecified() && !v6only:
		return familyAny
	}
	return family6
}

// unicastPair reports whether pkt's addresses can belong to a connection:
// a unicast destination (not multicast, not a broadcast address of the
// NIC) and a unicast source (not multicast, not unspecified). IPv4-mapped
// addresses never appear in an IPv6 header on the wire (RFC 4291 section
// 2.5.5.2; Linux's tcp_v6 drops them), so either one rejects the segment.
func unicastPair(pkt *stack.Packet) bool {
	src, dst := pkt.Src, pkt.Dst
	switch {
	case !dst.IsValid() || dst.IsMulticast() || dst.Is4In6():
		return false
	case !src.IsValid() || src.IsMulticast() || src.IsUnspecified() || src.Is4In6():
		return false
	}
	return pkt.NIC == nil || !pkt.NIC.IsBroadcast(dst)
}

// The MSS assumed of a peer that sends no MSS option (RFC 9293 section
// 3.7.1): 536 over IPv4, 1220 over IPv6 (its 1280-byte minimum MTU less
// 60 bytes of headers, RFC 8200 section 8.3).
const (
	defaultMSS4 = 536
	defaultMSS6 = minPathMTU6 - ipv6HeaderLen - HeaderLen
)

// setFamily tells a core that init prepared which family its connection
// runs over (that of remote).
func (c *core) setFamily(remote netip.Addr) {
	c.busyOn()
	c.defMSS = defaultMSS4
	if remote.Is6() {
		c.defMSS = defaultMSS6
	}
	c.mss = int(c.defMSS)
}

// defaultMSS is the MSS of a peer that sent none (setFamily).
func (c *core) defaultMSS() int {
	if c.defMSS == 0 {
		return defaultMSS4
	}
	return int(c.defMSS)
}
