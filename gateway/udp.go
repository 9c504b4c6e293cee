package gateway

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"

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
// destination answers port unreachable: then the flow is remembered, and
// the guest's next datagram of it is answered with port unreachable.
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
	unreachable := func(err error) {
		if errors.Is(err, syscall.ECONNREFUSED) {
			g.ctr.udpUnreach.Inc()
			g.refused.add(refusedKey{id.Remote, id.Local})
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
