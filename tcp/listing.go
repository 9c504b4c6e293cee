package tcp

import (
	"net/netip"
	"sort"
	"time"
)

// snapshot returns the listeners and connections of the moment, for the
// listings (Connections, Sockets) to read one at a time under each one's
// own lock.
func (p *Protocol) snapshot() ([]*Listener, []*endpoint) {
	p.mu.RLock()
	ls := make([]*Listener, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l)
	}
	es := p.conns.appendTo(make([]*endpoint, 0, p.conns.len()))
	p.mu.RUnlock()
	return ls, es
}

// timeWaitSockets returns the TIME_WAIT records as Sockets rows.
func (p *Protocol) timeWaitSockets(now time.Time) []Socket {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.timeWaitSocketsLocked(now)
}

// ConnInfo describes one connection or listener for a status page.
type ConnInfo struct {
	Local, Remote netip.AddrPort
	// State is the netstat name: "LISTEN", "ESTABLISHED", "TIME_WAIT"...
	State string
	// RecvQueue is received data not yet read (for a listener, connections
	// not yet accepted); SendQueue is data not yet acknowledged.
	RecvQueue, SendQueue int
}

// Connections lists listeners and connections, sorted by local then remote
// address.
func (p *Protocol) Connections() []ConnInfo {
	ls, es := p.snapshot()
	out := make([]ConnInfo, 0, len(ls)+len(es))
	for _, l := range ls {
		out = append(out, ConnInfo{Local: l.addr, State: StateListen.String(), RecvQueue: len(l.acceptq)})
	}
	for _, e := range es {
		e.mu.Lock()
		out = append(out, ConnInfo{Local: e.id().local, Remote: e.id().remote, State: e.c.state.String(),
			RecvQueue: e.c.rcv.n, SendQueue: e.c.snd.n})
		e.mu.Unlock()
	}
	for _, s := range p.timeWaitSockets(p.clock.Now()) {
		out = append(out, s.ConnInfo)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Local.Compare(out[j].Local); c != 0 {
			return c < 0
		}
		return out[i].Remote.Compare(out[j].Remote) < 0
	})
	return out
}
