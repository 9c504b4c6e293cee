package tcp

import (
	"sort"
	"time"
)

// Socket is one row of `ss -tanoi` (tapstack ss): a listener or a
// connection. For a connection, ConnDetail (info.go) is filled in, with
// the byte counts and the pending timer ss shows; for a listener only
// ConnInfo is set, SendQueue being the accept queue's size (the backlog,
// as ss shows it).
type Socket struct {
	ConnDetail
	// DualStack says a listener on :: takes IPv4 connections too (ss
	// shows it as *:PORT).
	DualStack bool
	// BytesSent is the sequence space sent so far (retransmissions not
	// counted twice), BytesAcked what the peer acknowledged and
	// BytesReceived what arrived in order; the SYN and FIN are not bytes.
	// They are taken from the sequence numbers, so they wrap at 4 GiB.
	BytesSent, BytesAcked, BytesReceived uint32
	// Timer is the pending timer as ss names it: "on" (retransmission),
	// "persist" (zero window probe), "timewait" or "keepalive"; empty
	// when none. TimerLeft is the time until it fires and TimerCount
	// the retransmissions or keepalive probes it already sent.
	Timer      string
	TimerLeft  time.Duration
	TimerCount int
}

// Sockets lists listeners, then connections, each sorted by local then
// remote address, with what ss -tanoi prints. Each connection is read
// under its lock, one at a time.
func (p *Protocol) Sockets() []Socket {
	ls, es := p.snapshot()
	now := p.clock.Now()
	out := make([]Socket, 0, len(ls)+len(es))
	for _, l := range ls {
		out = append(out, Socket{
			ConnDetail: ConnDetail{ConnInfo: ConnInfo{Local: l.addr, State: StateListen.String(),
				RecvQueue: len(l.acceptq), SendQueue: cap(l.acceptq)}},
			DualStack: l.addr.Addr().Is6() && l.addr.Addr().IsUnspecified() && !l.v6only,
		})
	}
	for _, e := range es {
		e.mu.Lock()
		out = append(out, e.c.socket(now, ConnInfo{Local: e.id().local, Remote: e.id().remote}))
		e.mu.Unlock()
	}
	out = append(out, p.timeWaitSockets(now)...)
	sort.Slice(out, func(i, j int) bool {
		if li, lj := out[i].State == "LISTEN", out[j].State == "LISTEN"; li != lj {
			return li
		}
		if c := out[i].Local.Compare(out[j].Local); c != 0 {
			return c < 0
		}
		return out[i].Remote.Compare(out[j].Remote) < 0
	})
	return out
}

// socket is c's Socket at now, with ci's addresses.
func (c *core) socket(now time.Time, ci ConnInfo) Socket {
	s := Socket{ConnDetail: c.detail(ci)}
	if c.state != StateSynSent && c.state != StateClosed {
		// The SYN takes the first sequence number of each side.
		s.BytesSent = uint32(c.iss.Add(1).Size(c.sndMax))
		s.BytesAcked = uint32(c.iss.Add(1).Size(c.sndUna))
		if c.sndUna == c.iss { // the SYN itself is not yet acknowledged
			s.BytesAcked = 0
		}
		s.BytesReceived = uint32(c.irs.Add(1).Size(c.rcvNxt))
		// So does each FIN.
		if c.finQueued && c.finSeq.LessThan(c.sndMax) {
			s.BytesSent--
			if c.finSeq.LessThan(c.sndUna) {
				s.BytesAcked--
			}
		}
		if c.finRcvd {
			s.BytesReceived--
		}
	}
	switch {
	case c.rtxAt != 0:
		s.Timer, s.TimerLeft, s.TimerCount = "on", c.time(c.rtxAt).Sub(now), int(c.retries)
		if c.sndUna == c.sndMax {
			s.Timer = "persist"
		}
	case c.twAt != 0:
		s.Timer, s.TimerLeft = "timewait", c.time(c.twAt).Sub(now)
	case c.kaAt != 0:
		s.Timer, s.TimerLeft, s.TimerCount = "keepalive", c.time(c.kaAt).Sub(now), int(c.kaSent)
	}
	s.TimerLeft = max(s.TimerLeft, 0)
	return s
}
