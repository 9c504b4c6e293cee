package gateway

import (
	"context"
	"errors"
	"net"

	"github.com/tapstack/tapstack/tcp"
)

// handleTCP relays one guest connection attempt: it dials the real
// destination first and completes the guest's handshake only when that
// succeeds; a refused, unreachable or timed-out connect refuses the guest
// (RST: "connection refused"), as the destination itself would have.
func (g *Gateway) handleTCP(r *tcp.ForwarderRequest) {
	id := r.ID()
	if !g.guest(id.Remote.Addr()) {
		r.Refuse()
		return
	}
	dst, ok := g.target(id.Local)
	if !ok {
		g.ctr.tcpRefused.Inc()
		r.Refuse()
		return
	}
	s := g.tcpLim.acquire(id.Remote.Addr().Unmap())
	if s == nil {
		g.ctr.tcpLimit.Inc()
		r.Refuse()
		return
	}
	defer s.release()
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.ConnectTimeout)
	up, err := g.cfg.Dial(ctx, network("tcp", dst.Addr()), dst.String())
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			g.ctr.tcpTimeout.Inc()
		} else {
			g.ctr.tcpRefused.Inc()
		}
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
	g.ctr.tcpRelayed.Inc()
	if relay(down, up) {
		g.ctr.tcpReset.Inc()
	}
}

var _ streamConn = (*tcp.Conn)(nil)
var _ streamConn = (*net.TCPConn)(nil)
