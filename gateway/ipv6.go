package gateway

import (
	"errors"
	"net/netip"
)

// fill6 checks the IPv6 part of c and applies its defaults.
func (c *Config) fill6() error {
	if !c.Subnet6.IsValid() {
		return nil
	}
	if !c.Subnet6.Addr().Is6() || c.Subnet6.Addr().Is4In6() || c.Subnet6.Bits() != 64 {
		return errors.New("gateway: Subnet6 must be an IPv6 /64 (SLAAC needs one), e.g. fd00:10:0:2::/64")
	}
	c.Subnet6 = c.Subnet6.Masked()
	nth := func(n byte) netip.Addr {
		b := c.Subnet6.Addr().As16()
		b[15] = n
		return netip.AddrFrom16(b)
	}
	if !c.Router6.IsValid() {
		c.Router6 = nth(2)
	}
	if !c.DNS6.IsValid() {
		c.DNS6 = nth(3)
	}
	if !c.Subnet6.Contains(c.Router6) || !c.Subnet6.Contains(c.DNS6) {
		return errors.New("gateway: Router6 and DNS6 must be inside Subnet6")
	}
	if !c.Loopback6.IsValid() {
		c.Loopback6 = netip.IPv6Loopback()
	}
	return nil
}

// target6 is target for an IPv6 destination: Router6 goes to Loopback6,
// DNS6:53 to DNSUpstream; the rest of Subnet6, link-local, multicast and
// unspecified destinations are refused, and all IPv6 destinations when
// Subnet6 is unset.
func (g *Gateway) target6(dst netip.AddrPort) (netip.AddrPort, bool) {
	a := dst.Addr()
	c := &g.cfg
	switch {
	case !c.Subnet6.IsValid():
		return netip.AddrPort{}, false
	case a == c.Router6:
		return netip.AddrPortFrom(c.Loopback6, dst.Port()), true
	case a == c.DNS6:
		if dst.Port() == 53 && c.DNSUpstream.IsValid() {
			return c.DNSUpstream, true
		}
		return netip.AddrPort{}, false
	case c.Subnet6.Contains(a), a.IsLinkLocalUnicast(), a.IsMulticast(), a.IsUnspecified(), a.IsLoopback():
		return netip.AddrPort{}, false
	}
	return dst, true
}
