package ipv4

import (
	"net/netip"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// anyDst is the state of the "accept any destination" mode (gVisor calls
// it promiscuous plus spoofing), used by transparent proxies and VPNs
// (tun2socks): unicast packets to addresses that are not ours are
// delivered to the local transports instead of being forwarded or
// dropped, and what we send back leaves from the address the peer used.
type anyDst struct {
	on   atomic.Bool
	echo atomic.Pointer[func(src, dst netip.Addr) bool]
	// echoReply is the handler of inbound echo replies (a ping client).
	echoReply atomic.Pointer[echoReplySlot]
	relay     relayPtr // SetEchoRelay (echo_relay.go)
}

type echoReplySlot struct{ h EchoReplyHandler }

// EchoReplyHandler receives inbound ICMP echo replies (a ping client such
// as package ping registers one with SetEchoReplyHandler).
type EchoReplyHandler interface {
	// HandleEchoReply takes ownership of p, whose data starts at the ICMP
	// header (checksum verified); p.NIC, p.Src, p.Dst and p.TTL are set.
	HandleEchoReply(p *stack.Packet)
}

// SetAcceptAnyDestination turns the "accept any destination" mode on or
// off (Options.AcceptAnyDestination sets it at Register). When on, a
// unicast packet to an address that is not ours is delivered to the local
// transports as if it were ours, instead of being forwarded (or dropped,
// counted ipv4.rx.not_for_us); TCP and UDP forwarders (tcp.NewForwarder,
// udp.NewForwarder) then take the connections, and ICMP errors about such
// packets (port unreachable) leave from the address they were sent to.
// Broadcast and multicast handling does not change.
func (pr *Protocol) SetAcceptAnyDestination(on bool) { pr.any.on.Store(on) }

// AcceptsAnyDestination reports whether the "accept any destination" mode
// is on.
func (pr *Protocol) AcceptsAnyDestination() bool { return pr.any.on.Load() }

// SetForwardedEcho decides which echo requests to addresses that are not
// ours, delivered because AcceptAnyDestination is on, are answered (from
// the address they were sent to): those for which f returns true. f runs
// on the packet path and must not block. With f nil (the default) they are
// not answered (counted icmp.rx.echo_broadcast_ignored, as other echo
// requests we do not answer).
func (pr *Protocol) SetForwardedEcho(f func(src, dst netip.Addr) bool) {
	if f == nil {
		pr.any.echo.Store(nil)
		return
	}
	pr.any.echo.Store(&f)
}

// SetEchoReplyHandler makes h the receiver of inbound echo replies; nil
// removes it (replies are then counted and dropped).
func (pr *Protocol) SetEchoReplyHandler(h EchoReplyHandler) {
	if h == nil {
		pr.any.echoReply.Store(nil)
		return
	}
	pr.any.echoReply.Store(&echoReplySlot{h})
}

// EchoReplyHandler returns the handler set with SetEchoReplyHandler, or
// nil.
func (pr *Protocol) EchoReplyHandler() EchoReplyHandler {
	if s := pr.any.echoReply.Load(); s != nil {
		return s.h
	}
	return nil
}

// forwardedEcho reports whether an echo request from src to dst, an
// address not ours, is answered.
func (pr *Protocol) forwardedEcho(nic *stack.NIC, src, dst netip.Addr) bool {
	if !pr.any.on.Load() || dst.IsMulticast() || dst == limitedBroadcast || (nic != nil && nic.IsBroadcast(dst)) {
		return false
	}
	f := pr.any.echo.Load()
	return f != nil && (*f)(src, dst)
}

// routeFrom returns the route to dst for a reply from from: one of our
// addresses, the zero Addr (chosen by the route), or, in the "accept any
// destination" mode, an address that is not ours which the peer used as
// destination (the route then only picks the interface and next hop).
func (pr *Protocol) routeFrom(dst, from netip.Addr) (stack.Route, error) {
	if !from.IsValid() || pr.s.IsLocalAddress(from) || !pr.any.on.Load() {
		return pr.s.FindRoute(dst, from)
	}
	r, err := pr.s.FindRoute(dst, netip.Addr{})
	if err != nil {
		return r, err
	}
	r.LocalAddr = from
	return r, nil
}

// SendPortUnreachable answers p, an inbound datagram whose network header
// is marked and which no endpoint took, with ICMP port unreachable as a
// closed port would, following the rules and rate limit of every ICMP
// error we send. A transport that decides later than HandlePacket (a UDP
// forwarder refusing a flow) calls it. It does not take ownership of p.
func (pr *Protocol) SendPortUnreachable(p *stack.Packet) {
	pr.sendError(p, ICMPDestUnreach, CodePortUnreachable, 0)
}
