package stack

import "net/netip"

// TraceKind says what a TraceEvent reports.
type TraceKind uint8

// The kinds of trace events.
const (
	// TraceFrameIn is a network packet a NIC accepted from its link
	// (Packet holds it from the network header on).
	TraceFrameIn TraceKind = iota + 1
	// TraceFrameOut is a network packet handed to a NIC to send.
	TraceFrameOut
	// TraceCount is a counted event: Name is the counter's name.
	TraceCount
	// TraceState is a state change of a protocol's entry or connection:
	// Layer, Name (what changed), From and To.
	TraceState
	// TraceRoute is a route decision: Dst, the chosen Route, NextHop.
	TraceRoute
)

// TraceEvent is one named event of a layer, as a Tracer receives it. It is
// only built when a tracer is set; the tracer formats it into words and
// must copy what it keeps (Packet is valid only during the call).
type TraceEvent struct {
	Kind  TraceKind
	Layer string // "link", "arp", "ipv4", "tcp", ...
	NIC   *NIC   // the interface, when known
	// Packet is the packet's bytes from the network header on (frames).
	Packet []byte
	// EtherType of the packet (frames).
	EtherType uint16
	// LinkSrc and LinkDst are the Ethernet addresses of the frame.
	LinkSrc, LinkDst MAC
	// NextHop is the next hop of a route decision.
	NextHop netip.Addr
	// Name is the counter's name (TraceCount) or what changed state.
	Name string
	// From and To are the states of a TraceState event.
	From, To string
	// Src and Dst are the endpoints an event is about, when known
	// (a TCP connection's local and remote address, a route's
	// destination), with their ports.
	Src, Dst         netip.AddrPort
	Route            Route
	RouteFound       bool
	HopLimitExceeded bool
}

// Tracer receives a stack's trace events, synchronously on the packet
// path: it must not block nor keep ev or its slices after returning.
type Tracer interface {
	Trace(ev *TraceEvent)
}

type tracerSlot struct{ t Tracer }

// SetTracer makes t the stack's tracer (nil stops tracing) and returns
// the previous one. With no tracer the cost of every trace point is one
// atomic load.
func (s *Stack) SetTracer(t Tracer) Tracer {
	var next *tracerSlot
	if t != nil {
		next = &tracerSlot{t}
	}
	old := s.tracer.Swap(next)
	if old == nil {
		return nil
	}
	return old.t
}

// Tracer returns the stack's tracer, nil when nobody is tracing: one
// atomic load. Layers call it at their trace points and build a
// TraceEvent only when it is not nil.
func (s *Stack) Tracer() Tracer {
	if p := s.tracer.Load(); p != nil {
		return p.t
	}
	return nil
}

// TraceState reports a state change of layer's entry name (a neighbour
// entry, a connection) from one state to another, when tracing.
func (s *Stack) TraceState(layer, name, from, to string, src, dst netip.AddrPort) {
	if t := s.Tracer(); t != nil {
		ev := TraceEvent{Kind: TraceState, Layer: layer, Name: name, From: from, To: to, Src: src, Dst: dst}
		t.Trace(&ev)
	}
}

// traceFrame reports a packet entering or leaving through n.
func (n *NIC) traceFrame(t Tracer, kind TraceKind, p *Packet, etherType uint16, dst MAC) {
	ev := TraceEvent{Kind: kind, Layer: "link", NIC: n, Packet: p.Bytes(), EtherType: etherType,
		LinkSrc: p.LinkSrc, LinkDst: p.LinkDst}
	if kind == TraceFrameOut {
		ev.LinkSrc, ev.LinkDst = n.LinkAddress(), dst
	}
	t.Trace(&ev)
}
