package host

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// minIPv6MTU is the smallest link MTU IPv6 runs on (RFC 8200 5); Linux
// turns IPv6 off on a link below it, and so do we.
const minIPv6MTU = 1280

// runsIPv6 reports whether nic takes part in IPv6 autoconfiguration: an
// Ethernet link (not L3: a TUN has no link-local address, as Linux's
// IFF_NOARP devices, and no neighbours to discover) of at least 1280
// bytes.
func runsIPv6(nic *stack.NIC) bool {
	return nic.MTU() >= minIPv6MTU && !nic.IsL3() && !nic.LinkAddress().IsZero()
}

// linkLocalOf is the link-local address New gives nic (EUI-64, RFC 4862
// 5.3), or false when it gets none.
func linkLocalOf(nic *stack.NIC) (netip.Prefix, bool) {
	if !runsIPv6(nic) {
		return netip.Prefix{}, false
	}
	for _, a := range nic.Addresses() {
		if a.Addr().Is6() && a.Addr().IsLinkLocalUnicast() {
			return netip.Prefix{}, false // given statically
		}
	}
	return ndp.LinkLocal(nic.LinkAddress()), true
}

// addLinkLocal adds nic's link-local address (already probed when
// Config.DetectConflicts is set).
func (h *Host) addLinkLocal(nic *stack.NIC) error {
	ll, ok := linkLocalOf(nic)
	if !ok {
		return nil
	}
	if err := nic.AddAddress(ll); err != nil {
		return fmt.Errorf("host: interface %s: link-local %v: %w", nic.Name(), ll, err)
	}
	return nil
}

// startIPv6 makes each IPv6 interface a router advertising its prefixes
// (Config.Advertise) or a host autoconfiguring from routers (unless
// Config.NoSLAAC, and never while forwarding, as Linux's accept_ra=1).
func (h *Host) startIPv6(cfg Config, nics []*stack.NIC) error {
	for _, nic := range nics {
		if !runsIPv6(nic) {
			continue
		}
		if cfg.Advertise != nil {
			if hasGlobal6(nic) {
				if err := h.ndp.Advertise(nic, *cfg.Advertise); err != nil {
					return fmt.Errorf("host: interface %s: router advertisements: %w", nic.Name(), err)
				}
			}
			continue
		}
		if cfg.NoSLAAC || cfg.IPv6.Forwarding {
			continue
		}
		if err := h.ndp.Autoconfigure(nic); err != nil {
			return fmt.Errorf("host: interface %s: SLAAC: %w", nic.Name(), err)
		}
	}
	return nil
}

// hasGlobal6 reports whether nic has an IPv6 address beyond link-local.
func hasGlobal6(nic *stack.NIC) bool {
	for _, a := range nic.Addresses() {
		if a.Addr().Is6() && !a.Addr().IsLinkLocalUnicast() {
			return true
		}
	}
	return false
}

// closeNeighbours stops MLD and Neighbour Discovery, which are not the
// stack's protocols: before Stack.Close, so that a router's final
// advertisements (router lifetime 0, RFC 4861 6.2.5) still go out.
func (h *Host) closeNeighbours() {
	if h.mld != nil {
		h.mld.Close()
	}
	if h.ndp != nil {
		h.ndp.Close()
	}
}

// setResolver installs a resolver for servers (port 53).
func (h *Host) setResolver(servers []netip.Addr) {
	h.resolver.Store(&dns.Resolver{Servers: dnsServers(servers), Dial: h.dialIP, Clock: h.s.Clock()})
}

// learntDNS returns the DNS servers of the DHCP lease, then those of
// routers' advertisements (RDNSS).
func (h *Host) learntDNS() []netip.Addr {
	var as []netip.Addr
	if h.dhcp != nil {
		if l, ok := h.dhcp.Lease(); ok {
			as = append(as, l.DNS...)
		}
	}
	if h.ndp != nil {
		for _, a := range h.ndp.DNSServers() {
			if !slices.Contains(as, a) {
				as = append(as, a)
			}
		}
	}
	return as
}

// Resolver returns the host's DNS resolver: it queries Config.DNS, or else
// the DNS servers of the DHCP lease and of routers' advertisements
// (RDNSS), over the stack. Host.DialContext uses it for host names; its
// NetResolver method gives a *net.Resolver that also goes through the
// stack. The value must not be modified: when the learnt servers change,
// a later call returns a new one.
func (h *Host) Resolver() *dns.Resolver {
	r := h.resolver.Load()
	if len(h.dns) == 0 {
		if want := dnsServers(h.learntDNS()); !slices.Equal(r.Servers, want) {
			r = &dns.Resolver{Servers: want, Dial: h.dialIP, Clock: h.s.Clock()}
			h.resolver.Store(r)
		}
	}
	return r
}
