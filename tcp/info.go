package tcp

import "time"

// ConnDetail is one connection as `ss -ti` shows it: the state and
// queues of ConnInfo plus the sequence space, windows, congestion control
// and RTT estimator. Sequence numbers are the raw 32-bit values on the
// wire; subtract ISS (our side) or IRS (the peer's) for tcptrace-style
// relative numbers.
type ConnDetail struct {
	ConnInfo
	// ISS is our initial sequence number; SndUna the oldest unacknowledged
	// one, SndNxt the next to send, SndMax the highest sent plus one
	// (SndNxt < SndMax while retransmitting after a timeout).
	ISS, SndUna, SndNxt, SndMax uint32
	// SndWnd is the peer's receive window in bytes (scaled): we may send
	// up to SndUna+SndWnd.
	SndWnd uint32
	// IRS is the peer's initial sequence number, RcvNxt the next byte we
	// expect, RcvAdvRight the right edge of the window we last advertised.
	IRS, RcvNxt, RcvAdvRight uint32
	// RcvWnd is the receive buffer space free now.
	RcvWnd int
	// MSS is the segment size we send with, PeerMSS what the peer offered.
	MSS, PeerMSS int
	// Cwnd and Ssthresh are the congestion window and slow-start
	// threshold in bytes; CC the algorithm ("cubic", "reno").
	Cwnd, Ssthresh int
	CC             string
	// SRTT, RTTVar and RTO are the RFC 6298 estimator; HasRTT says a
	// sample was taken.
	SRTT, RTTVar, RTO time.Duration
	HasRTT            bool
	// Retries counts retransmission timeouts since the last progress
	// (Linux's backoff in `ss -ti`'s "backoff:").
	Retries int
	// InRecovery says fast recovery (NewReno or SACK) is running.
	InRecovery bool
	// BytesInFlight is sent and not acknowledged (SndMax-SndUna), less
	// what the peer SACKed; Sacked is the SACKed bytes.
	BytesInFlight, Sacked int
	// SACK holds the peer's SACK scoreboard (sender side), NumSACK of
	// them valid, lowest first; OOO the out-of-order ranges we hold
	// (receiver side), NumOOO valid.
	SACK    [4]SACKBlock
	NumSACK int
	OOO     [4]SACKBlock
	NumOOO  int
	// MinRTT is the least RTT seen (RACK's min_RTT), 0 before a sample.
	MinRTT time.Duration
	// PacingRate is the rate new data leaves at, in bytes per second,
	// for an algorithm that paces (bbrlite); 0 when the window alone
	// limits the sender.
	PacingRate float64
	// Bandwidth and PacingGain are bbrlite's model: the bottleneck
	// bandwidth estimate in bytes per second and the gain on it that
	// gives PacingRate (ss's bbr:(bw:...,pacing_gain:...)); 0 for the
	// other algorithms.
	Bandwidth, PacingGain float64
	// WScale says the window scale shifts (send, receive); TS, SACKOn
	// and ECN the negotiated options.
	SndShift, RcvShift uint8
	TS, SACKOn, ECN    bool
}

// ConnDetails appends to dst the details of every connection (listeners
// are left out) and returns it, in no particular order. Each connection is
// read under its lock, one at a time: it costs nothing when nobody calls
// it, and a caller polling it should do so at a modest rate.
func (p *Protocol) ConnDetails(dst []ConnDetail) []ConnDetail {
	p.mu.RLock()
	es := p.conns.appendTo(make([]*endpoint, 0, p.conns.len()))
	p.mu.RUnlock()
	for _, e := range es {
		e.mu.Lock()
		dst = append(dst, e.c.detail(ConnInfo{Local: e.id().local, Remote: e.id().remote}))
		e.mu.Unlock()
	}
	return dst
}

// detail fills a ConnDetail from the core.
func (c *core) detail(ci ConnInfo) ConnDetail {
	ci.State, ci.RecvQueue, ci.SendQueue = c.state.String(), c.rcv.n, c.snd.n
	d := ConnDetail{
		ConnInfo: ci,
		ISS:      uint32(c.iss), SndUna: uint32(c.sndUna), SndNxt: uint32(c.sndNxt), SndMax: uint32(c.sndMax),
		SndWnd: c.sndWnd,
		IRS:    uint32(c.irs), RcvNxt: uint32(c.rcvNxt), RcvAdvRight: uint32(c.lastAdvRight),
		RcvWnd: c.rcvWnd(),
		MSS:    c.mss, PeerMSS: int(c.peerMSS),
		Cwnd: c.cwnd, Ssthresh: c.ssthresh,
		SRTT: c.rtt.srtt, RTTVar: c.rtt.rttvar, RTO: c.rtt.rto, HasRTT: c.rtt.hasSample(),
		Retries: int(c.retries), InRecovery: c.inRecovery,
		SndShift: c.sndShift, RcvShift: c.rcvShift,
		TS: c.tsOn, SACKOn: c.sackOn, ECN: c.ecnOn,
	}
	if c.ca != nil {
		d.CC = c.ca.name()
	}
	d.MinRTT = c.minRTT()
	d.PacingRate, _ = c.paceRate()
	if b, ok := c.ca.(*bbrLite); ok {
		d.Bandwidth, d.PacingGain = b.maxBW(), b.pacingGain()
	}
	for _, b := range c.sb.blocks {
		if n := int32(b.start.Size(b.end)); n > 0 {
			d.Sacked += int(n)
		}
		if d.NumSACK < len(d.SACK) {
			d.SACK[d.NumSACK] = SACKBlock{uint32(b.start), uint32(b.end)}
			d.NumSACK++
		}
	}
	if c.sndMax.GreaterThan(c.sndUna) {
		d.BytesInFlight = max(int(c.sndUna.Size(c.sndMax))-d.Sacked, 0)
	}
	for _, r := range c.ooo {
		if d.NumOOO == len(d.OOO) {
			break
		}
		d.OOO[d.NumOOO] = SACKBlock{uint32(r.start), uint32(r.end)}
		d.NumOOO++
	}
	return d
}
