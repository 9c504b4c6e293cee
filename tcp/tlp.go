package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// Tail Loss Probe (RFC 8985 section 7): when the last segments of a
// flight are lost, no later segment brings the duplicate ACKs or SACKs
// that fast recovery needs, and the sender waits for the retransmission
// timeout (at least 200ms, then a window of one segment). TLP instead
// sends a probe two smoothed RTTs after the last transmission or ACK: the
// last segment again (tlpFire says why not new data), in fast recovery
// too (tlpArm says why). Its ACK (with SACK blocks) lets fast recovery
// repair the tail at once. A probe that repaired a lost segment (its ACK
// goes beyond it without a D-SACK) gets the congestion response of one
// loss; one whose original also arrived (D-SACK, or a pure duplicate ACK)
// none. It needs SACK, as
// the RFC says; Options.DisableTLP turns it off (Linux tcp_early_retrans
// = 0). Counters: tcp.tlp.probes (tcp.tlp.probes_in_recovery of them in
// fast recovery), tcp.tlp.recoveries.

// tlpState is the probe timer and the probe outstanding (TLP.end_seq).
type tlpState struct {
	at      stamp        // when the probe timeout (PTO) fires; 0: not armed
	restart bool         // new data went out: restart the PTO
	out     bool         // a probe is outstanding
	dsacked bool         // a D-SACK reported it a duplicate
	endSeq  seqnum.Value // SND.MAX after the probe (TLP.end_seq)
}

// wcDelAckT is RFC 8985's worst-case delayed-ACK timer: with one segment
// in flight the peer may hold its ACK this long.
const wcDelAckT = 200 * time.Millisecond

// tlpMin is what Linux adds to 2*SRTT with more than one segment in
// flight (TCP_TIMEOUT_MIN, 2 jiffies): on a path of microseconds the
// probe would otherwise race the peer's ACK.
const tlpMin = 2 * time.Millisecond

// tlpPTO is RFC 8985 section 7.2's TLP_calc_PTO: twice the smoothed RTT
// (one second without a sample), plus the worst-case delayed ACK when
// one segment is in flight (else Linux's 2ms), and never after the RTO
// would fire.
func tlpPTO(srtt time.Duration, hasSRTT, oneSegment bool, now, rtoExpire time.Time) time.Duration {
	pto := time.Second
	if hasSRTT {
		pto = 2*srtt + tlpMin
		if oneSegment {
			pto = 2*srtt + wcDelAckT
		}
	}
	if !rtoExpire.IsZero() && now.Add(pto).After(rtoExpire) {
		pto = rtoExpire.Sub(now)
	}
	return max(pto, 0)
}

// tlpArm schedules a probe if one may be sent (RFC 8985 section 7.2):
// SACK, data in flight, no timeout being recovered from, no probe
// outstanding, an open send window. restart moves a scheduled one.
//
// Unlike RFC 8985 (and Linux), which leave a recovery to RACK and the
// RTO, the probe is armed in fast recovery too, as QUIC's probe timeout
// is (RFC 9002 section 6.2): when the one ACK that would have carried a
// recovery on is lost (a receiver that coalesces its SACKs, as Linux
// does, may send just one for a whole flight once the hole is filled),
// nothing else arrives and the sender would sit out the RTO, 200ms at
// least, where one round trip does.
func (c *core) tlpArm(now time.Time, restart bool) {
	flight := int(c.sndUna.Size(c.sndMax))
	if c.cfg.noTLP || !c.sackOn || flight == 0 || c.tlp.out || c.sndNxt != c.sndMax ||
		c.sndWnd == 0 || c.retries > 0 || c.rack.at != 0 || c.rtxAt == 0 || !c.state.synchronized() || c.state == StateTimeWait {
		c.tlp.at = 0
		return
	}
	if c.tlp.at != 0 && !restart {
		return
	}
	c.tlp.at = c.at(now.Add(tlpPTO(c.rtt.srtt, c.rtt.hasSample(), flight <= c.mss, now, c.time(c.rtxAt))))
}

// tlpFire sends the probe: the last segment sent, then the RTO is armed
// anew. RFC 8985 section 7.3 (and Linux) would send one segment of new
// data when the send window allows, which a probe only finds waiting
// when the congestion window held it back: a full flight is out and no
// ACK came. If it was the ACKs that were lost, the peer holds everything
// and may delay the ACK of one new in-order segment (Linux: 40ms and
// more, as traced in the lab's loss=1% transfers), where it ACKs a
// duplicate at once (RFC 5681 section 4.2, with a D-SACK that tells the
// probe was not needed); if it was the tail, the duplicate repairs the
// last segment itself, or its SACK shows RACK the rest.
func (c *core) tlpFire(now time.Time) {
	c.tlp.at = 0
	if c.sndUna == c.sndMax || c.tlp.out {
		return
	}
	end := c.sndMax
	if c.finQueued && c.sndMax.GreaterThan(c.finSeq) {
		end = c.finSeq // sendRange adds the FIN after the data
	}
	n := min(int(c.sndUna.Size(end)), c.mss)
	if c.sendRange(now, end.Sub(seqnum.Size(n)), n) == 0 {
		return
	}
	c.rttTiming, c.rttSeq, c.rttStart = false, 0, 0 // Karn
	c.ctr.tlpProbes.Inc()
	if c.inRecovery {
		c.ctr.tlpInRecovery.Inc()
	}
	c.tlp.restart = false
	c.tlp.out, c.tlp.dsacked, c.tlp.endSeq = true, false, c.sndMax
	c.rtxAt = c.at(now.Add(c.rtt.rto))
}

// tlpOnAck is RFC 8985 section 7.4 (as Linux's tcp_process_tlp_ack): has
// the probe repaired a loss? dup says the ACK acknowledged nothing new
// and SACKed nothing new.
func (c *core) tlpOnAck(now time.Time, seg *segment, dup bool) {
	t := &c.tlp
	if !t.out {
		return
	}
	if b, ok := dsackBlock(&seg.opts, seg.ack); ok && b.end == t.endSeq {
		t.dsacked = true
	}
	switch {
	case seg.ack.LessThan(t.endSeq):
		return
	case t.dsacked:
		// The original arrived as well: no loss.
	case seg.ack.GreaterThan(t.endSeq):
		// The probe repaired a loss: the response to one loss.
		if !c.inRecovery {
			c.ctr.tlpRecoveries.Inc()
			c.ca.onLoss(&c.ccWindow, now, int(c.sndUna.Size(c.sndMax)))
			c.cwnd = max(c.ssthresh, c.mss)
		}
	case !dup:
		return // wait for a D-SACK or an ACK beyond the probe
	}
	t.out = false
}

// tlpStop forgets the probe: recovery or a timeout took over.
func (c *core) tlpStop() { c.tlp = tlpState{} }
