package stack

import (
	"fmt"
	"net/netip"
)

// findRoute6 is FindRoute for an IPv6 destination. A zone on dst (fe80::1%eth0,
// ff02::1%eth0) names the interface; link-local and multicast destinations
// without one go out of the first interface with an IPv6 address, as a
// scoped socket of Linux would need to be told.
func (s *Stack) findRoute6(dst, src netip.Addr) (Route, error) {
	zone := dst.Zone()
	dst = dst.WithZone("")
	src = src.WithZone("")
	if src.IsValid() && !src.IsUnspecified() {
		if s.localNIC(src) == nil {
			return Route{}, fmt.Errorf("source %v: %w", src, ErrAddressNotLocal)
		}
	} else {
		src = netip.Addr{}
	}
	if n := s.localNIC(dst); n != nil {
		if !src.IsValid() {
			src = dst
		}
		return Route{NIC: n, LocalAddr: src, RemoteAddr: dst, NextHop: dst, Local: true, stack: s}, nil
	}
	var nic *NIC
	nextHop := dst
	switch {
	case zone != "":
		if nic = s.NIC(zone); nic == nil {
			return Route{}, fmt.Errorf("%v%%%s: no interface named %q: %w", dst, zone, zone, ErrNoRoute)
		}
	case dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() || dst.IsInterfaceLocalMulticast():
		for _, n := range s.NICs() {
			if _, ok := n.firstAddress(false); ok {
				nic = n
				break
			}
		}
		if nic == nil {
			return Route{}, fmt.Errorf("%v: no interface has an IPv6 address: %w", dst, ErrNoRoute)
		}
	default:
		e, err := s.lookup(dst)
		if err != nil {
			return Route{}, fmt.Errorf("%v: %w", dst, ErrNoRoute)
		}
		nic = e.NIC
		if e.Gateway.IsValid() && !dst.IsMulticast() {
			nextHop = e.Gateway
		}
		if !src.IsValid() && e.Src.IsValid() {
			src = e.Src
		}
	}
	if !src.IsValid() {
		src = nic.SourceAddress6(dst)
		if !src.IsValid() {
			return Route{}, fmt.Errorf("interface %s has no IPv6 address: %w", nic.name, ErrAddressNotLocal)
		}
	}
	return Route{NIC: nic, LocalAddr: src, RemoteAddr: dst, NextHop: nextHop, stack: s}, nil
}

// SourceAddress6 picks n's IPv6 source address for dst, a short form of
// RFC 6724's rules: a link-local destination gets a link-local source;
// otherwise an address whose prefix holds dst, else the first global one,
// else the link-local one. It returns the zero Addr when n has no IPv6
// address.
func (n *NIC) SourceAddress6(dst netip.Addr) netip.Addr {
	var global, local netip.Addr
	for _, p := range n.Addresses() {
		a := p.Addr()
		switch {
		case !a.Is6():
		case a.IsLinkLocalUnicast():
			if !local.IsValid() {
				local = a
			}
		case p.Contains(dst):
			return a
		case !global.IsValid():
			global = a
		}
	}
	if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() || !global.IsValid() {
		return local
	}
	return global
}

// firstAddress returns n's first address of the family (v4 true: IPv4).
func (n *NIC) firstAddress(v4 bool) (netip.Addr, bool) {
	for _, p := range n.Addresses() {
		if p.Addr().Is4() == v4 {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// LinkRoute returns a route out of n straight to dst on its link (no
// gateway, no table lookup) from src, which may be the unspecified address
// (::, as duplicate address detection sends). Neighbour Discovery, MLD
// and IGMP send along it.
func (n *NIC) LinkRoute(src, dst netip.Addr) Route {
	dst = dst.WithZone("")
	return Route{NIC: n, LocalAddr: src.WithZone(""), RemoteAddr: dst, NextHop: dst, stack: n.stack}
}
