package stack

import (
	"fmt"
	"net/netip"
	"sort"
)

// RouteEntry is one row of the route table.
type RouteEntry struct {
	// Dst is the destination prefix; 0.0.0.0/0 is the default route.
	Dst netip.Prefix
	// Gateway is the next hop, or the zero Addr for a connected route.
	Gateway netip.Addr
	// NIC is the outgoing interface. For a gateway route it may be nil and
	// is then found from the connected route to the gateway.
	NIC *NIC
	// Src is the preferred source address, or zero to choose one.
	Src netip.Addr
}

// String formats the entry like "10.0.0.0/24 dev tap0" or
// "0.0.0.0/0 via 10.0.0.1 dev tap0".
func (e RouteEntry) String() string {
	s := e.Dst.String()
	if e.Gateway.IsValid() {
		s += " via " + e.Gateway.String()
	}
	if e.NIC != nil {
		s += " dev " + e.NIC.name
	}
	if e.Src.IsValid() {
		s += " src " + e.Src.String()
	}
	return s
}

type routeTable struct {
	entries []RouteEntry // longest prefix first
}

// Routes returns the route table, longest prefixes first.
func (s *Stack) Routes() []RouteEntry {
	return append([]RouteEntry(nil), s.routes.Load().entries...)
}

// AddRoute adds a route. A gateway route without a NIC takes the NIC of the
// connected route that reaches the gateway.
func (s *Stack) AddRoute(e RouteEntry) error {
	if !e.Dst.IsValid() || e.Dst.Addr().Is4In6() {
		return fmt.Errorf("route destination %v is not an IP prefix", e.Dst)
	}
	e.Dst = e.Dst.Masked()
	if e.Gateway.IsValid() && e.Gateway.Is4() != e.Dst.Addr().Is4() {
		return fmt.Errorf("route %v: gateway %v is not of the destination's family", e.Dst, e.Gateway)
	}
	if e.Gateway.Zone() != "" && e.NIC == nil {
		e.NIC = s.NIC(e.Gateway.Zone())
		if e.NIC == nil {
			return fmt.Errorf("route %v: no interface named %q", e.Dst, e.Gateway.Zone())
		}
	}
	e.Gateway = e.Gateway.WithZone("")
	if e.Gateway.IsValid() && e.NIC == nil {
		r, err := s.lookup(e.Gateway)
		if err != nil || r.Gateway.IsValid() {
			return fmt.Errorf("gateway %v is not on a connected subnet: add an address in its subnet first: %w", e.Gateway, ErrNoRoute)
		}
		e.NIC = r.NIC
	}
	if e.NIC == nil {
		return fmt.Errorf("route %v needs an interface or a gateway", e.Dst)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.routes.Load().entries
	for _, o := range old {
		if o.Dst == e.Dst && o.Gateway == e.Gateway && o.NIC == e.NIC {
			return fmt.Errorf("route %v already exists", e)
		}
	}
	next := append(append([]RouteEntry(nil), old...), e)
	sort.SliceStable(next, func(i, j int) bool { return next[i].Dst.Bits() > next[j].Dst.Bits() })
	s.routes.Store(&routeTable{next})
	return nil
}

// RemoveRoute removes the routes matching dst, gateway (zero matches only
// connected routes) and nic (nil matches any). It reports how many it
// removed.
func (s *Stack) RemoveRoute(dst netip.Prefix, gateway netip.Addr, nic *NIC) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []RouteEntry
	n := 0
	for _, o := range s.routes.Load().entries {
		if o.Dst == dst.Masked() && o.Gateway == gateway && (nic == nil || o.NIC == nic) {
			n++
			continue
		}
		next = append(next, o)
	}
	s.routes.Store(&routeTable{next})
	return n
}

// lookup is the longest-prefix match.
func (s *Stack) lookup(dst netip.Addr) (RouteEntry, error) {
	for _, e := range s.routes.Load().entries {
		if e.Dst.Contains(dst) {
			return e, nil
		}
	}
	return RouteEntry{}, ErrNoRoute
}

// Route is a resolved path for sending to one destination: the interface,
// our source address and the next hop. It is a value; transports keep one
// per connection and send through it without looking up again.
type Route struct {
	// NIC is the outgoing interface (for Local routes, the interface that
	// owns the address).
	NIC *NIC
	// LocalAddr is our source address.
	LocalAddr netip.Addr
	// RemoteAddr is the final destination.
	RemoteAddr netip.Addr
	// NextHop is the gateway, or RemoteAddr when it is on-link.
	NextHop netip.Addr
	// Local says RemoteAddr is one of our own addresses: the IP layer
	// loops the packet back instead of sending it.
	Local bool
	// Broadcast says RemoteAddr is a broadcast address on NIC.
	Broadcast bool

	stack *Stack
}

// Stack returns the stack the route belongs to.
func (r *Route) Stack() *Stack { return r.stack }

// MTU is the largest IP packet that leaves along the route unfragmented.
func (r *Route) MTU() int {
	if r.Local {
		return 65535
	}
	return r.NIC.MTU()
}

// WritePacket sends p (data starting at the transport header) along the
// route through the stack's IP layer. It takes ownership of p.
func (r *Route) WritePacket(params NetworkParams, p *Packet) error {
	w := r.stack.ip[family(r.RemoteAddr)].Load()
	if w == nil {
		p.Release()
		return ErrNoProtocol
	}
	return w.w.WritePacket(r, params, p)
}

// FindRoute returns the route to dst. When src is valid it must be one of
// our addresses and becomes the source; otherwise the source is chosen from
// the outgoing interface (the route's preferred source, else an address on
// the same subnet as the next hop, else the interface's first address).
func (s *Stack) FindRoute(dst, src netip.Addr) (Route, error) {
	r, err := s.findRoute(dst, src)
	if t := s.Tracer(); t != nil {
		s.traceRoute(t, dst, r, err == nil)
	}
	return r, err
}

// traceRoute reports a route decision, naming the table entry chosen.
func (s *Stack) traceRoute(t Tracer, dst netip.Addr, r Route, ok bool) {
	ev := TraceEvent{Kind: TraceRoute, Layer: "ipv4", NIC: r.NIC, NextHop: r.NextHop, Route: r, RouteFound: ok,
		Dst: netip.AddrPortFrom(dst, 0)}
	if dst.Is6() {
		ev.Layer = "ipv6"
	}
	if ok && !r.Local && !r.Broadcast && !dst.IsLinkLocalUnicast() && !dst.IsMulticast() {
		if e, err := s.lookup(dst.WithZone("")); err == nil {
			ev.Name = e.Dst.String()
		}
	}
	t.Trace(&ev)
}

// findRoute is FindRoute without the trace.
func (s *Stack) findRoute(dst, src netip.Addr) (Route, error) {
	if !dst.IsValid() || dst.Is4In6() {
		return Route{}, fmt.Errorf("destination %v is not an IPv4 or IPv6 address: %w", dst, ErrNoRoute)
	}
	if dst.Is6() {
		return s.findRoute6(dst, src)
	}
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
	if dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		nics := s.NICs()
		if len(nics) == 0 {
			return Route{}, ErrNoRoute
		}
		n := nics[0]
		if src.IsValid() {
			n = s.localNIC(src)
		} else if a, ok := n.firstAddress(true); ok {
			src = a
		} else {
			src = netip.IPv4Unspecified()
		}
		return Route{NIC: n, LocalAddr: src, RemoteAddr: dst, NextHop: dst, Broadcast: true, stack: s}, nil
	}
	e, err := s.lookup(dst)
	if err != nil {
		return Route{}, fmt.Errorf("%v: %w", dst, ErrNoRoute)
	}
	r := Route{NIC: e.NIC, RemoteAddr: dst, NextHop: dst, stack: s}
	if e.Gateway.IsValid() && !dst.IsMulticast() {
		r.NextHop = e.Gateway
	}
	r.Broadcast = e.NIC.IsBroadcast(dst)
	switch {
	case src.IsValid():
		r.LocalAddr = src
	case e.Src.IsValid():
		r.LocalAddr = e.Src
	default:
		addrs := e.NIC.Addresses()
		for _, p := range addrs {
			if p.Contains(r.NextHop) {
				r.LocalAddr = p.Addr()
				break
			}
		}
		if !r.LocalAddr.IsValid() {
			a, ok := e.NIC.firstAddress(true)
			if !ok {
				return Route{}, fmt.Errorf("interface %s has no IPv4 address: %w", e.NIC.name, ErrAddressNotLocal)
			}
			r.LocalAddr = a
		}
	}
	return r, nil
}

// localNIC returns the NIC that owns a, or nil.
func (s *Stack) localNIC(a netip.Addr) *NIC {
	for _, n := range s.NICs() {
		if n.HasAddress(a) {
			return n
		}
	}
	return nil
}

// IsLocalAddress reports whether a is one of the stack's addresses.
func (s *Stack) IsLocalAddress(a netip.Addr) bool { return s.localNIC(a) != nil }

// BroadcastRoute returns a route for the limited broadcast address
// 255.255.255.255 out of this NIC, from src (0.0.0.0 when the NIC has no
// address yet, as a DHCP client sends). FindRoute picks the first NIC for
// limited broadcasts; this is the SO_BINDTODEVICE equivalent for senders
// that must choose the interface.
func (n *NIC) BroadcastRoute(src netip.Addr) Route {
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	b := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	return Route{NIC: n, LocalAddr: src, RemoteAddr: b, NextHop: b, Broadcast: true, stack: n.stack}
}
