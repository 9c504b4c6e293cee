package ipv6

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
	on    atomic.Bool
	echo  atomic.Pointer[func(src, dst netip.Addr) bool]
	relay relayPtr // SetEchoRelay (echo_relay.go)
}

// SetAcceptAnyDestination turns the "accept any destination" mode on or
// off (Options.AcceptAnyDestination sets it at Register). When on, a
// unicast packet to an address that is not ours is delivered to the local
// transports as if it were ours, instead of being forwarded or dropped;
// TCP and UDP forwarders (tcp.NewForwarder, udp.NewForwarder) then take
// the connections, and ICMPv6 errors about such packets (port
// unreachable) leave from the address they were sent to. Multicast
// handling does not change. Echo replies for a ping client go to the
// stack.ICMPv6Handler registered for type 129.
func (pr *Protocol) SetAcceptAnyDestination(on bool) { pr.any.on.Store(on) }

// AcceptsAnyDestination reports whether the "accept any destination" mode
// is on.
func (pr *Protocol) AcceptsAnyDestination() bool { return pr.any.on.Load() }

// SetForwardedEcho decides which echo requests to addresses that are not
// ours, delivered because AcceptAnyDestination is on, are answered (from
// the address they were sent to): those for which f returns true. f runs
// on the packet path and must not block. With f nil (the default) they are
// not answered (counted icmpv6.rx.echo_not_answered).
func (pr *Protocol) SetForwardedEcho(f func(src, dst netip.Addr) bool) {
	if f == nil {
		pr.any.echo.Store(nil)
		return
	}
	pr.any.echo.Store(&f)
}

// forwardedEcho reports whether an echo request from src to dst, a
// unicast address not ours, is answered.
func (pr *Protocol) forwardedEcho(src, dst netip.Addr) bool {
	f := pr.any.echo.Load()
	return f != nil && (*f)(src, dst)
}

// spoofRoute returns the route to dst for a reply from from, an address
// that is not ours which the peer used as destination in the "accept any
// destination" mode: the route only picks the interface and next hop.
func (pr *Protocol) spoofRoute(nic *stack.NIC, dst, from netip.Addr) (stack.Route, error) {
	r, err := pr.replyRoute(nic, dst, netip.Addr{})
	if err != nil {
		return r, err
	}
	r.LocalAddr = from.WithZone("")
	return r, nil
}

// SendPortUnreachable answers p, an inbound datagram whose network header
// is marked and which no endpoint took, with ICMPv6 port unreachable as a
// closed port would, following the rules and rate limit of every ICMPv6
// error we send. A transport that decides later than HandlePacket (a UDP
// forwarder refusing a flow) calls it. It does not take ownership of p.
func (pr *Protocol) SendPortUnreachable(p *stack.Packet) {
	pr.sendError(p, ICMPDestUnreach, CodePortUnreachable, 0, false)
}
