package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// udpBufs pools UDP relay buffers of each configured size.
type bufPool struct {
	size int
	p    sync.Pool
}

func (b *bufPool) get() *[]byte {
	if v := b.p.Get(); v != nil {
		return v.(*[]byte)
	}
	buf := make([]byte, b.size)
	return &buf
}

func (b *bufPool) put(p *[]byte) { b.p.Put(p) }

var udpPools sync.Map // size -> *bufPool

func udpPool(size int) *bufPool {
	if v, ok := udpPools.Load(size); ok {
		return v.(*bufPool)
	}
	v, _ := udpPools.LoadOrStore(size, &bufPool{size: size})
	return v.(*bufPool)
}

// handleUDP relays one guest UDP flow through a connected kernel UDP
// socket. The flow ends when the forwarder expires it (idle) or the real
// destination answers port unreachable (ECONNREFUSED on the socket): the
// guest then gets ICMP port unreachable from the destination at once,
// about the datagram that provoked it, and the flow is remembered so the
// guest's next datagram of it is refused the same way.
func (g *Gateway) handleUDP(r *udp.ForwarderRequest) {
	id := r.ID()
	if !g.guest(id.Remote.Addr()) {
		r.Refuse()
		return
	}
	dst, ok := g.target(id.Local)
	if !ok || g.refused.take(refusedKey{id.Remote, id.Local}) {
		g.ctr.udpRefused.Inc()
		r.Refuse()
		return
	}
	s := g.udpLim.acquire(id.Remote.Addr().Unmap())
	if s == nil {
		g.ctr.udpLimit.Inc()
		r.Refuse()
		return
	}
	defer s.release()
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.ConnectTimeout)
	up, err := g.cfg.Dial(ctx, network("udp", dst.Addr()), dst.String())
	cancel()
	if err != nil {
		g.ctr.udpRefused.Inc()
		r.Refuse()
		return
	}
	if !s.hold(up) {
		r.Refuse()
		return
	}
	down, err := r.Accept()
	if err != nil {
		up.Close()
		return
	}
	if !s.hold(down) || !s.relay() {
		down.Close()
		up.Close()
		return
	}
	g.ctr.udpFlows.Inc()
	pool := udpPool(g.cfg.UDPBufferSize)
	var lastLen atomic.Int64 // the guest's last datagram, for the quote
	var once sync.Once
	unreachable := func(err error) {
		if errors.Is(err, syscall.ECONNREFUSED) {
			once.Do(func() {
				g.ctr.udpUnreach.Inc()
				g.refused.add(refusedKey{id.Remote, id.Local})
				// The flow goes before the guest hears: its next
				// datagram is then a new flow, refused from the cache,
				// not one relayed into a socket nobody reads any more.
				down.Close()
				g.portUnreachable(id.Local, id.Remote, int(lastLen.Load()))
			})
		}
	}
	done := make(chan struct{})
	go func() { // destination -> guest
		defer close(done)
		bp := pool.get()
		defer pool.put(bp)
		for {
			n, err := up.Read(*bp)
			if err != nil {
				unreachable(err)
				down.Close()
				return
			}
			if n == len(*bp) {
				g.ctr.udpTruncated.Inc()
			}
			if _, err := down.Write((*bp)[:n]); err != nil {
				up.Close()
				return
			}
		}
	}()
	bp := pool.get()
	for { // guest -> destination, until the flow idles out
		n, err := down.Read(*bp)
		if err != nil {
			break
		}
		if n == len(*bp) {
			g.ctr.udpTruncated.Inc()
		}
		lastLen.Store(int64(n))
		if _, err := up.Write((*bp)[:n]); err != nil {
			unreachable(err)
			down.Close()
			break
		}
	}
	pool.put(bp)
	up.Close()
	<-done
}

var _ net.Conn = (*udp.Conn)(nil)

// portUnreachable sends guest ICMP (or ICMPv6) port unreachable from
// dst about its datagram of n payload bytes from guest to dst: the quote
// is the datagram's IP and UDP headers (RFC 792, RFC 4443 3.1; RFC 1122
// 3.2.2.1: a receiver finds its socket by the quoted addresses and
// ports), the UDP checksum left zero since the payload is not quoted.
// Unsent when the guest's datagram size is unknown.
func (g *Gateway) portUnreachable(dst, guest netip.AddrPort, n int) {
	d, s := dst.Addr().Unmap(), guest.Addr().Unmap()
	if n <= 0 || n > 0xffff-ipv6.HeaderLen-8 || d.Is4() != s.Is4() {
		return
	}
	var q [ipv6.HeaderLen + 8]byte
	hl := ipv4.HeaderLen
	if d.Is6() {
		hl = ipv6.HeaderLen
		h := ipv6.Fields{PayloadLength: uint16(8 + n), NextHeader: stack.ProtocolUDP, HopLimit: 64, Src: s, Dst: d}
		h.Encode(q[:hl])
	} else {
		h := ipv4.Fields{TotalLength: uint16(hl + 8 + n), TTL: 64, Protocol: stack.ProtocolUDP, Src: s, Dst: d}
		h.Encode(q[:hl])
	}
	u := q[hl:]
	u[0], u[1] = byte(guest.Port()>>8), byte(guest.Port())
	u[2], u[3] = byte(dst.Port()>>8), byte(dst.Port())
	u[4], u[5] = byte((8+n)>>8), byte(8+n)
	if d.Is4() {
		if ip := g.h.IPv4(); ip != nil {
			ip.SendICMPFrom(d, s, ipv4.ICMPFields{Type: ipv4.ICMPDestUnreach, Code: ipv4.CodePortUnreachable, Payload: q[:hl+8]})
		}
		return
	}
	if ip, ok := g.h.Stack().NetworkProtocol(stack.EtherTypeIPv6).(*ipv6.Protocol); ok {
		ip.SendICMPFrom(d, s, ipv6.ICMPFields{Type: ipv6.ICMPDestUnreach, Code: ipv6.CodePortUnreachable, Payload: q[:hl+8]})
	}
}
