package ndp

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Router is a default router learnt from an advertisement.
type Router struct {
	// Addr is the router's link-local address; NIC its interface.
	Addr netip.Addr
	NIC  string
	// Expires is when its router lifetime ends.
	Expires time.Time
}

// Prefix is a prefix learnt from an advertisement.
type Prefix struct {
	// Prefix is the advertised prefix; NIC its interface.
	Prefix netip.Prefix
	NIC    string
	// OnLink says it is on-link (has a route); OnLinkExpires when that
	// ends (zero: never).
	OnLink        bool
	OnLinkExpires time.Time
	// Addr is the SLAAC address formed in it (zero: none); Assigned says
	// it passed DAD and is on the NIC. ValidUntil and PreferredUntil are
	// its lifetimes (zero: infinite).
	Addr                       netip.Addr
	Assigned                   bool
	ValidUntil, PreferredUntil time.Time
}

// Routers returns the default routers learnt on every interface.
func (p *Protocol) Routers() []Router {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Router
	for _, ifc := range p.sortedIfacesLocked() {
		for _, r := range ifc.routers {
			out = append(out, Router{Addr: r.addr, NIC: ifc.nic.Name(), Expires: r.until})
		}
	}
	return out
}

// Prefixes returns the prefixes learnt on every interface.
func (p *Protocol) Prefixes() []Prefix {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Prefix
	for _, ifc := range p.sortedIfacesLocked() {
		for _, pf := range ifc.prefixes {
			out = append(out, Prefix{
				Prefix: pf.prefix, NIC: ifc.nic.Name(), OnLink: pf.onLink, OnLinkExpires: pf.onLinkUntil,
				Addr: pf.addr, Assigned: pf.assigned, ValidUntil: pf.validUntil, PreferredUntil: pf.preferredUntil,
			})
		}
	}
	return out
}

// DNSServers returns the DNS servers learnt from RDNSS options (RFC 8106)
// whose lifetimes have not ended, without duplicates, in the order they
// were learnt per interface.
func (p *Protocol) DNSServers() []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []netip.Addr
	for _, ifc := range p.sortedIfacesLocked() {
		for _, d := range ifc.dns {
			if !slices.Contains(out, d.addr) {
				out = append(out, d.addr)
			}
		}
	}
	return out
}

// LinkMTU returns the MTU a router advertised for nic's link (RFC 4861
// 4.6.4), or 0 if none was (use nic.MTU()).
func (p *Protocol) LinkMTU(nic *stack.NIC) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ifc := p.ifaces[nic]; ifc != nil {
		return ifc.mtu
	}
	return 0
}

// HopLimit returns the hop limit a router advertised for nic's link, or 0
// if none was (use the default, 64).
func (p *Protocol) HopLimit(nic *stack.NIC) uint8 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ifc := p.ifaces[nic]; ifc != nil {
		return ifc.hopLimit
	}
	return 0
}

func (p *Protocol) sortedIfacesLocked() []*iface {
	out := make([]*iface, 0, len(p.ifaces))
	for _, ifc := range p.ifaces {
		out = append(out, ifc)
	}
	slices.SortFunc(out, func(a, b *iface) int { return a.nic.ID() - b.nic.ID() })
	return out
}
