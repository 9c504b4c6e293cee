package arp

// Sending requests and replies, and the packets that waited for
// resolution.

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// sourceFor picks the sender address of a request for target on nic: the
// NIC's address on target's subnet, else its first address, else 0.0.0.0.
func sourceFor(nic *stack.NIC, target netip.Addr) netip.Addr {
	addrs := nic.Addresses()
	for _, a := range addrs {
		if a.Contains(target) {
			return a.Addr()
		}
	}
	for _, a := range addrs {
		if a.Addr().Is4() {
			return a.Addr()
		}
	}
	return netip.IPv4Unspecified()
}

// allowRequest takes a token from the request rate limiter; it reports
// false (and counts) when the bucket is empty. p.mu must not be held.
func (p *Protocol) allowRequest() bool {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if dt := now.Sub(p.tokensAt); dt > 0 {
		p.tokens = min(p.tokens+dt.Seconds()*p.opts.RequestRate, float64(p.opts.RequestBurst))
		p.tokensAt = now
	}
	if p.tokens < 1 {
		p.txRateLimited.Inc()
		return false
	}
	p.tokens--
	return true
}

// sendRequest broadcasts a request for target, unless the rate limiter
// refuses. p.mu must not be held.
func (p *Protocol) sendRequest(nic *stack.NIC, target netip.Addr) {
	if !p.allowRequest() {
		return
	}
	p.send(nic, stack.BroadcastMAC, Fields{
		Op:        OpRequest,
		SenderMAC: nic.LinkAddress(),
		SenderIP:  sourceFor(nic, target),
		TargetIP:  target,
	})
	p.txRequests.Inc()
}

// sendUnicastRequest sends a request for target to mac, its last known
// address (a PROBE reconfirmation), unless the rate limiter refuses. p.mu
// must not be held.
func (p *Protocol) sendUnicastRequest(nic *stack.NIC, target netip.Addr, mac stack.MAC) {
	if !p.allowRequest() {
		return
	}
	p.send(nic, mac, Fields{
		Op:        OpRequest,
		SenderMAC: nic.LinkAddress(),
		SenderIP:  sourceFor(nic, target),
		TargetIP:  target,
	})
	p.txRequests.Inc()
	p.txUnicastProbes.Inc()
}

// send builds an ARP packet in a new packet and writes it to dst. p.mu
// must not be held: the write may block or re-enter.
func (p *Protocol) send(nic *stack.NIC, dst stack.MAC, f Fields) {
	if nic.IsL3() {
		return // never an ARP packet on an L3 link (see l3.go)
	}
	out := stack.NewPacket(stack.Headroom, Len)
	f.Encode(out.Bytes())
	if err := nic.WriteLinkPacket(dst, stack.EtherTypeARP, out); err != nil {
		p.txErrors.Inc()
	}
}

// flush writes queued packets to mac. p.mu must not be held.
func (p *Protocol) flush(nic *stack.NIC, mac stack.MAC, q []queued) {
	for _, w := range q {
		if err := nic.WriteLinkPacket(mac, w.etherType, w.p); err != nil {
			p.txErrors.Inc()
		}
	}
}
