package stack

import (
	"net/netip"
	"sync"
)

// PackedRoute is a Route packed for a holder that keeps one for long,
// like a connection: 64 bytes instead of Route's 96. The next hop is kept
// only when it is a gateway (and then on the heap); on-link, local and
// broadcast routes name theirs by a shared marker, and the stack is the
// NIC's. An idle server holding thousands of connections keeps one each.
type PackedRoute struct {
	nic           *NIC
	local, remote netip.Addr
	// hop is nil for an on-link route (the next hop is remote),
	// &hopLocal or &hopBroadcast for those kinds, else the gateway.
	hop *netip.Addr
}

// The markers of PackedRoute.hop; their values are never read.
var hopLocal, hopBroadcast netip.Addr

// Pack returns r packed. A route that is both local and broadcast, or
// whose next hop differs from its destination while being either, has
// no packed form; the stack makes none.
func (r Route) Pack() PackedRoute {
	p := PackedRoute{nic: r.NIC, local: r.LocalAddr, remote: r.RemoteAddr}
	switch {
	case r.Local:
		p.hop = &hopLocal
	case r.Broadcast:
		p.hop = &hopBroadcast
	case r.NextHop != r.RemoteAddr:
		h := r.NextHop
		p.hop = &h
	}
	return p
}

// Route returns the route p packs.
func (p *PackedRoute) Route() Route {
	r := Route{NIC: p.nic, LocalAddr: p.local, RemoteAddr: p.remote, NextHop: p.remote}
	if p.nic != nil {
		r.stack = p.nic.stack
	}
	switch p.hop {
	case nil:
	case &hopLocal:
		r.Local = true
	case &hopBroadcast:
		r.Broadcast = true
	default:
		r.NextHop = *p.hop
	}
	return r
}

// LocalAddr is the route's source address (Route.LocalAddr).
func (p *PackedRoute) LocalAddr() netip.Addr { return p.local }

// RemoteAddr is the route's destination (Route.RemoteAddr).
func (p *PackedRoute) RemoteAddr() netip.Addr { return p.remote }

// WritePacket sends p along the route (Route.WritePacket). The route
// is unpacked into a pooled Route, not one on the stack: the IP layer is
// called through an interface, so a local Route would escape, an
// allocation per packet. The IP layers do not keep the route past the
// call.
func (p *PackedRoute) WritePacket(params NetworkParams, pkt *Packet) error {
	r := routePool.Get().(*Route)
	*r = p.Route()
	err := r.WritePacket(params, pkt)
	routePool.Put(r)
	return err
}

// routePool holds the Routes PackedRoute.WritePacket unpacks into.
var routePool = sync.Pool{New: func() any { return new(Route) }}
