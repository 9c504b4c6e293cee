package ipv6

import (
	"net/netip"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// EchoRelay takes an echo request to a unicast address that is not ours,
// delivered because AcceptAnyDestination is on: m is the ICMPv6 message
// (checksum verified), valid only during the call, src the sender and dst
// the address it pinged. It returns true when it took the request (a
// user-mode gateway relays it and answers later with SendICMPFrom); the
// request is then not answered here. With false, SetForwardedEcho decides.
// It runs on the packet path and must not block.
type EchoRelay func(src, dst netip.Addr, m ICMP) bool

// relaySlot is the relay set with SetEchoRelay and its counter.
type relaySlot struct {
	f   EchoRelay
	ctr *stack.Counter
}

// relayPtr is anyDst's relay field.
type relayPtr = atomic.Pointer[relaySlot]

// SetEchoRelay installs f as the relay of echo requests to addresses that
// are not ours (see EchoRelay); nil removes it. Requests the relay takes
// are counted icmpv6.rx.echo_relayed.
func (pr *Protocol) SetEchoRelay(f EchoRelay) {
	if f == nil {
		pr.any.relay.Store(nil)
		return
	}
	pr.any.relay.Store(&relaySlot{f, pr.s.Counters().Get("icmpv6.rx.echo_relayed")})
}

// relayEcho offers an echo request to the relay; true means it was taken.
func (pr *Protocol) relayEcho(src, dst netip.Addr, m ICMP) bool {
	sl := pr.any.relay.Load()
	if sl == nil || !pr.any.on.Load() || !sl.f(src, dst, m) {
		return false
	}
	sl.ctr.Inc()
	return true
}

// SendICMPFrom sends the ICMPv6 message fields f to "to" from the address
// "from", which in the "accept any destination" mode may be one that is
// not ours (a relayed echo's reply leaves from the address the peer
// pinged); the zero from lets the route choose. The checksum is computed
// here. It takes one packet from the pool; meant for the messages a relay
// answers.
func (pr *Protocol) SendICMPFrom(from, to netip.Addr, f ICMPFields) error {
	var r stack.Route
	var err error
	if from.IsValid() && !pr.s.IsLocalAddress(from) && pr.any.on.Load() {
		r, err = pr.spoofRoute(nil, to, from)
	} else {
		r, err = pr.replyRoute(nil, to, from)
	}
	if err != nil {
		pr.c.icmpTxNoRoute.Inc()
		return err
	}
	p := stack.NewPacket(stack.Headroom, ICMPHeaderLen+len(f.Payload))
	f.Encode(p.Bytes(), r.LocalAddr, r.RemoteAddr)
	return pr.WritePacket(&r, stack.NetworkParams{Protocol: stack.ProtocolICMPv6}, p)
}
