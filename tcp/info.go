package tcp

import (
	"sort"
	"time"
)

// ConnDetail is one listener or connection with the details `ss -tani`
// prints: ConnInfo plus, for a connection, its RTT estimate, windows,
// bytes and timer. For a listener only ConnInfo is set, SendQueue being
// the accept queue's size (the backlog, as ss shows it).
type ConnDetail struct {
	ConnInfo
	// DualStack says a listener on :: takes IPv4 connections too (ss
	// shows it as *:PORT).
	DualStack bool
	// MSS is the payload size of a full segment we send.
	MSS int
	// SRTT, RTTVar and RTO are the smoothed round-trip time, its mean
	// deviation (RFC 6298) and the current retransmission timeout; SRTT
	// is zero until the first sample.
	SRTT, RTTVar, RTO time.Duration
	// CongestionWindow and SlowStartThreshold are in bytes; the threshold
	// is 1<<30 until the first loss.
	CongestionWindow, SlowStartThreshold int
	// CongestionControl is the algorithm's name ("cubic", "reno").
	CongestionControl string
	// SendShift and ReceiveShift are the window scales (wscale).
	SendShift, ReceiveShift uint8
	// SendWindow is the peer's window; ReceiveWindow is the free space of
	// our receive buffer.
	SendWindow, ReceiveWindow int
	// BytesSent is the sequence space sent so far (retransmissions not
	// counted twice), BytesAcked what the peer acknowledged and
	// BytesReceived what arrived in order. They are taken from the
	// sequence numbers, so they wrap at 4 GiB.
	BytesSent, BytesAcked, BytesReceived uint32
	// Unacked is the bytes in flight: sent and not yet acknowledged.
	Unacked int
	// Backoff is the number of retransmission timeouts in a row for the
	// oldest unacknowledged segment.
	Backoff int
	// Timer is the pending timer as ss names it: "on" (retransmission),
	// "persist" (zero window probe), "timewait" or "keepalive"; empty
	// when none. TimerLeft is the time until it fires and TimerCount
	// the retransmissions or keepalive probes it already sent.
	Timer      string
	TimerLeft  time.Duration
	TimerCount int
	// Timestamps, SACK and ECN report what the handshake negotiated.
	Timestamps, SACK, ECN bool
}

// ConnectionDetails lists listeners, then connections, each sorted by
// local then remote address, with their details.
func (p *Protocol) ConnectionDetails() []ConnDetail {
	p.mu.RLock()
	ls := make([]*Listener, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l)
	}
	es := make([]*endpoint, 0, len(p.conns))
	for _, e := range p.conns {
		es = append(es, e)
	}
	p.mu.RUnlock()
	now := p.clock.Now()
	out := make([]ConnDetail, 0, len(ls)+len(es))
	for _, l := range ls {
		out = append(out, ConnDetail{ConnInfo: ConnInfo{Local: l.addr, State: StateListen.String(),
			RecvQueue: len(l.acceptq), SendQueue: cap(l.acceptq)},
			DualStack: l.addr.Addr().Is6() && l.addr.Addr().IsUnspecified() && !l.v6only})
	}
	for _, e := range es {
		e.mu.Lock()
		out = append(out, e.c.detail(now, ConnInfo{Local: e.id.local, Remote: e.id.remote}))
		e.mu.Unlock()
	}
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

// detail is c's ConnDetail at now, with ci's addresses.
func (c *core) detail(now time.Time, ci ConnInfo) ConnDetail {
	ci.State, ci.RecvQueue, ci.SendQueue = c.state.String(), c.rcv.n, c.snd.n
	d := ConnDetail{
		ConnInfo: ci, MSS: c.mss,
		SRTT: c.rtt.srtt, RTTVar: c.rtt.rttvar, RTO: c.rtt.rto,
		CongestionWindow: c.cwnd, SlowStartThreshold: c.ssthresh, CongestionControl: c.ca.name(),
		SendShift: c.sndShift, ReceiveShift: c.rcvShift,
		SendWindow: int(c.sndWnd), ReceiveWindow: c.rcvWnd(),
		Unacked: int(c.sndUna.Size(c.sndNxt)), Backoff: c.retries,
		Timestamps: c.tsOn, SACK: c.sackOn, ECN: c.ecnOn,
	}
	if c.state != StateSynSent && c.state != StateClosed {
		// The SYN takes the first sequence number of each side.
		d.BytesSent = uint32(c.iss.Add(1).Size(c.sndMax))
		d.BytesAcked = uint32(c.iss.Add(1).Size(c.sndUna))
		if c.sndUna == c.iss { // the SYN itself is not yet acknowledged
			d.BytesAcked = 0
		}
		d.BytesReceived = uint32(c.irs.Add(1).Size(c.rcvNxt))
		// So does each FIN.
		if c.finQueued && c.finSeq.LessThan(c.sndMax) {
			d.BytesSent--
			if c.finSeq.LessThan(c.sndUna) {
				d.BytesAcked--
			}
		}
		if c.finRcvd {
			d.BytesReceived--
		}
	}
	switch {
	case !c.rtxAt.IsZero():
		d.Timer, d.TimerLeft, d.TimerCount = "on", c.rtxAt.Sub(now), c.retries
		if c.sndUna == c.sndMax {
			d.Timer = "persist"
		}
	case !c.twAt.IsZero():
		d.Timer, d.TimerLeft = "timewait", c.twAt.Sub(now)
	case !c.kaAt.IsZero():
		d.Timer, d.TimerLeft, d.TimerCount = "keepalive", c.kaAt.Sub(now), c.kaSent
	}
	d.TimerLeft = max(d.TimerLeft, 0)
	return d
}
