package stack

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// NIC is one interface of a stack: a link endpoint with addresses.
type NIC struct {
	id    int
	name  string
	stack *Stack
	ep    LinkEndpoint
	l3    bool // ep carries bare IP packets (L3Link)
	addrs atomic.Pointer[[]netip.Prefix]

	groupMu sync.Mutex
	groups  atomic.Pointer[map[netip.Addr]int] // multicast group -> members
}

// ID is the interface index, starting at 1.
func (n *NIC) ID() int { return n.id }

// Name is the interface name given to AddNIC.
func (n *NIC) Name() string { return n.name }

// Stack returns the stack the NIC belongs to.
func (n *NIC) Stack() *Stack { return n.stack }

// LinkEndpoint returns the NIC's link endpoint.
func (n *NIC) LinkEndpoint() LinkEndpoint { return n.ep }

// MTU is the largest IP packet the NIC sends unfragmented.
func (n *NIC) MTU() int { return n.ep.MTU() }

// LinkAddress is the NIC's hardware address.
func (n *NIC) LinkAddress() MAC { return n.ep.LinkAddress() }

// Addresses returns the NIC's addresses with their prefix lengths.
func (n *NIC) Addresses() []netip.Prefix { return *n.addrs.Load() }

// HasAddress reports whether a is one of the NIC's addresses.
func (n *NIC) HasAddress(a netip.Addr) bool {
	a = a.WithZone("")
	for _, p := range *n.addrs.Load() {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// IsBroadcast reports whether a is the limited broadcast address or the
// directed broadcast address of one of the NIC's subnets.
func (n *NIC) IsBroadcast(a netip.Addr) bool {
	if a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range *n.addrs.Load() {
		if p.Addr().Is4() && p.Bits() < 31 && a == DirectedBroadcast(p) {
			return true
		}
	}
	return false
}

// DirectedBroadcast returns the highest address of the IPv4 prefix p, its
// directed broadcast address (10.0.0.255 for 10.0.0.2/24).
func DirectedBroadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// AddAddress adds an IPv4 address with its prefix length (10.0.0.2/24) and
// the connected route for its subnet. A second address in a subnet the NIC
// already has is a secondary, as on Linux: it shares the existing route,
// whose preferred source stays the first address.
func (n *NIC) AddAddress(p netip.Prefix) error {
	if !p.IsValid() || p.Addr().Is4In6() {
		return fmt.Errorf("address %v is not an IP prefix like 10.0.0.2/24 or fd00::2/64", p)
	}
	p = netip.PrefixFrom(p.Addr().WithZone(""), p.Bits())
	a := p.Addr()
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("address %v cannot be assigned to an interface", a)
	}
	s := n.stack
	s.mu.Lock()
	for _, m := range s.NICs() {
		// A link-local address is unique on its link only (RFC 4291
		// 2.5.6): VLAN interfaces of one MAC share their EUI-64 one.
		if m != n && a.Is6() && a.IsLinkLocalUnicast() {
			continue
		}
		if m.HasAddress(a) {
			s.mu.Unlock()
			return fmt.Errorf("address %v is already assigned to %s: %w", a, m.name, ErrAddressInUse)
		}
	}
	old := *n.addrs.Load()
	secondary := false
	for _, q := range old {
		if q.Masked() == p.Masked() {
			secondary = true // Linux: a second address in a subnet shares its route
		}
	}
	next := append(append([]netip.Prefix(nil), old...), p)
	n.addrs.Store(&next)
	s.mu.Unlock()
	if !secondary {
		if err := s.AddRoute(RouteEntry{Dst: p.Masked(), NIC: n, Src: a}); err != nil {
			return err
		}
	}
	for _, o := range s.observers() {
		if o, ok := o.(AddressObserver); ok {
			o.AddressAdded(n, p)
		}
	}
	return nil
}

// RemoveAddress removes an address and its connected route.
func (n *NIC) RemoveAddress(a netip.Addr) error {
	a = a.WithZone("")
	s := n.stack
	s.mu.Lock()
	old := *n.addrs.Load()
	var next []netip.Prefix
	var removed netip.Prefix
	for _, p := range old {
		if p.Addr() == a {
			removed = p
			continue
		}
		next = append(next, p)
	}
	if !removed.IsValid() {
		s.mu.Unlock()
		return fmt.Errorf("address %v is not on %s: %w", a, n.name, ErrAddressNotLocal)
	}
	if next == nil {
		next = []netip.Prefix{}
	}
	n.addrs.Store(&next)
	s.mu.Unlock()
	// The connected route goes with the last address of its subnet; if it
	// named the removed address as source, the next one takes over.
	s.RemoveRoute(removed.Masked(), netip.Addr{}, n)
	var err error
	for _, q := range next {
		if q.Masked() == removed.Masked() {
			err = s.AddRoute(RouteEntry{Dst: q.Masked(), NIC: n, Src: q.Addr()})
			break
		}
	}
	for _, o := range s.observers() {
		if o, ok := o.(AddressRemovalObserver); ok {
			o.AddressRemoved(n, removed)
		}
	}
	return err
}

// EndBatch implements BatchEnder: the device's batch of inbound packets
// ended (see BatchEnder); the stack's transports do their deferred work.
func (n *NIC) EndBatch() bool { return n.stack.EndBatch() }

// DeliverNetworkPacket hands an inbound packet to the network protocol of
// its EtherType (on an L3 endpoint, the one of its IP version); it
// implements NetworkDispatcher.
func (n *NIC) DeliverNetworkPacket(p *Packet) {
	p.NIC = n
	if n.l3 {
		p.EtherType = IPEtherType(p.Bytes())
	}
	if t := n.stack.Tracer(); t != nil {
		n.traceFrame(t, TraceFrameIn, p, p.EtherType, MAC{})
	}
	for _, np := range *n.stack.netProto.Load() {
		if np.EtherType() == p.EtherType {
			np.HandlePacket(p)
			return
		}
	}
	n.stack.rxUnknownEtherType.Inc()
	p.Release()
}

// WritePacket sends p, a network packet of the given EtherType, to nextHop:
// broadcast and multicast addresses map to their link addresses, unicast
// ones go through the stack's resolver; on an L3 endpoint (IsL3) every
// packet goes out at once, to the zero MAC. It takes ownership of p.
func (n *NIC) WritePacket(nextHop netip.Addr, etherType uint16, p *Packet) error {
	if n.l3 {
		return n.WriteLinkPacket(MAC{}, etherType, p)
	}
	if n.IsBroadcast(nextHop) {
		return n.WriteLinkPacket(BroadcastMAC, etherType, p)
	}
	if nextHop.IsMulticast() {
		return n.WriteLinkPacket(MulticastMAC(nextHop), etherType, p)
	}
	r := n.stack.resolver[family(nextHop)].Load()
	if r == nil {
		p.Release()
		return fmt.Errorf("stack: no link resolver registered for %v (register arp or ndp): %w", nextHop, ErrHostUnreachable)
	}
	return r.r.WriteTo(n, nextHop, etherType, p)
}

// WriteLinkPacket sends p to a known link address, bypassing resolution;
// unicast packets WritePacket resolved reach the link through it (traced
// here, once, when they really leave).
// It takes ownership of p.
func (n *NIC) WriteLinkPacket(dst MAC, etherType uint16, p *Packet) error {
	if t := n.stack.Tracer(); t != nil {
		n.traceFrame(t, TraceFrameOut, p, etherType, dst)
	}
	return n.ep.WritePacket(dst, etherType, p)
}
