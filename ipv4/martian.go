package ipv4

import "net/netip"

// Martians are packets whose addresses cannot be real (RFC 1122 3.2.1.3: a
// host MUST silently discard a datagram whose source address is invalid;
// RFC 1812 5.3.7 for routers). Inbound packets are checked before they are
// delivered or forwarded, so both paths drop the same packets, each
// counted as ipv4.rx.martian_source or ipv4.rx.martian_destination. The
// rules are Linux's (ip_route_input_slow and fib_validate_source with the
// defaults route_localnet=0, accept_local=0) where the RFCs leave room:
//
//   - source multicast (224/4) or limited broadcast: martian;
//   - source in 0/8 ("this network"): martian, except to the limited
//     broadcast address, which is how a DHCP or BOOTP client without an
//     address speaks (0.0.0.0 → 255.255.255.255);
//   - source in 127/8 (loopback) from an interface: martian, even to a
//     broadcast address (the stack has no loopback interface; what it
//     sends to itself never carries a 127/8 source);
//   - source one of our own addresses, unless we looped the packet back
//     ourselves, or the directed broadcast address of one of our subnets:
//     martian;
//   - destination in 0/8 or 127/8: martian (Linux delivers 0.0.0.0 →
//     0.0.0.0 as an old-style broadcast; tapstack has no use for it and
//     drops it too);
//   - class E sources (240/4 other than 255.255.255.255) are accepted, as
//     Linux has done since 2.6.25;
//   - link-local sources (169.254/16) are accepted for local delivery
//     whatever our own addresses are: RFC 3927 3.3 lets a host with a
//     routable address talk to link-local hosts on its link, and Linux
//     accepts them. A router never forwards them (RFC 3927 section 7;
//     ipv4.fwd.bad_source and ipv4.fwd.bad_destination).
//
// Neither check allocates.

// martianSource reports whether src is an impossible source for a packet
// to dst that arrived from a link (loopback false) or that we looped back
// to ourselves (loopback true).
func (pr *Protocol) martianSource(src, dst netip.Addr, loopback bool) bool {
	b := src.As4()
	switch {
	case src.IsMulticast() || src == limitedBroadcast:
		return true
	case b[0] == 0:
		return dst != limitedBroadcast
	case b[0] == 127:
		return !loopback
	case !loopback && pr.s.IsLocalAddress(src):
		return true
	}
	return pr.anyBroadcast(src)
}

// martianDestination reports whether dst is an impossible destination: in
// 0/8 or 127/8.
func martianDestination(dst netip.Addr) bool {
	b := dst.As4()
	return b[0] == 0 || b[0] == 127
}
