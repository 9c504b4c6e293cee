package tcp

import "time"

// Proportional Rate Reduction (RFC 6937) sets the congestion window
// during SACK loss recovery (RFC 6675): instead of dropping the window to
// ssthresh at once and then sending nothing until the pipe drains below
// it (or, as Reno did, halving it and sending in bursts), the sender sends
// in proportion to what the peer reports delivered, so that the window
// comes down to ssthresh smoothly by the end of recovery, and, when losses
// took the pipe below ssthresh, climbs back towards it no faster than
// slow start (PRR-SSRB, the slow start reduction bound). Recovery without
// SACK keeps NewReno's window inflation (RFC 6582).

// prrState is the state of one recovery episode (RFC 6937 section 3).
type prrState struct {
	recoverFS int // RecoverFS: the flight size when recovery began
	delivered int // prr_delivered: bytes the peer reported delivered since
	out       int // prr_out: bytes sent since
	sacked    int // bytes SACKed in the scoreboard after the last ACK
}

// start is "On entering recovery": sacked is what the scoreboard holds.
func (p *prrState) start(flight, sacked int) {
	*p = prrState{recoverFS: max(flight, 1), sacked: sacked}
}

// sndcnt is RFC 6937's arithmetic "On every ACK during recovery" that
// reported deliveredData bytes delivered (newly acknowledged cumulatively
// or newly SACKed), with pipe bytes in flight (RFC 6675's pipe): how many
// bytes may be sent now.
//
//	pipe > ssthresh:  sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
//	otherwise (SSRB): sndcnt = MIN(ssthresh - pipe, MAX(prr_delivered - prr_out, DeliveredData) + MSS)
func (p *prrState) sndcnt(deliveredData, pipe, ssthresh, mss int) int {
	p.delivered += deliveredData
	var n int
	if pipe > ssthresh {
		n = (p.delivered*ssthresh+p.recoverFS-1)/p.recoverFS - p.out
	} else {
		n = min(ssthresh-pipe, max(p.delivered-p.out, deliveredData)+mss)
	}
	return max(n, 0)
}

// prrEnter begins PRR as SACK recovery begins; ssthresh is set.
func (c *core) prrEnter() {
	c.lossOn().prr.start(int(c.sndUna.Size(c.sndMax)), c.sackedBytes())
}

// prrOnAck sets the window for an ACK in SACK recovery that
// acknowledged acked bytes cumulatively: cwnd = pipe + sndcnt, so that
// RFC 6675's transmission loop (sackRecover) sends sndcnt bytes.
func (c *core) prrOnAck(acked int) {
	sacked := c.sackedBytes()
	c.lossOn() // made by prrEnter already, unless recovery began otherwise
	delivered := max(acked+sacked-c.prr.sacked, 0)
	c.prr.sacked = sacked
	pipe := c.pipe()
	c.cwnd = max(pipe+c.prr.sndcnt(delivered, pipe, c.ssthresh, c.mss), c.mss)
}

// prrSent counts n bytes sent (new or retransmitted) in SACK recovery.
func (c *core) prrSent(n int) {
	if c.inRecovery && c.lossState != nil { // SACK recovery began with prrEnter, which made it
		c.prr.out += n
	}
}

// prrWindow is the window rule of the SACK-based recoveries (sackRecovery
// and rackRecovery embed it): RFC 6675's entry into recovery, then PRR on
// every ACK until it ends.
type prrWindow struct{}

// enter is RFC 6675 section 5: cwnd = ssthresh, PRR starts, the first
// segment is retransmitted (HighRxt follows it), then the output sends
// what the pipe allows.
func (prrWindow) enter(c *core, now time.Time) {
	c.ctr.sackRecoveries.Inc()
	c.cwnd = c.ssthresh
	c.rxtNext = c.sndUna
	c.prrEnter()
	c.rxtNext = c.sndUna.Add(c.sendRange(now, c.sndUna, c.mss)) // HighRxt
}

// recoveryAck sets the window with PRR (and shows a congestion controller
// that observes recovery each ACK that acknowledged new data); output then
// runs RFC 6675's NextSeg against the pipe.
func (prrWindow) recoveryAck(c *core, now time.Time, acked int) {
	if acked > 0 && c.ccObserves() {
		c.ccAck, c.ccNxt, c.ccRTT, c.ccMinRTT = c.sndUna, c.sndNxt, c.rtt.latest, c.minRTT()
		c.ccObserve()
		c.ca.(recoveryObserver).onRecoveryAck(&c.ccWindow, now)
	}
	c.prrOnAck(acked)
}

// exit is RFC 6937 section 3.1: recovery ends with cwnd at ssthresh
// (PRR brought it there), as Linux's tcp_end_cwnd_reduction does, even
// when the ACK that ends it leaves little in flight: falling to
// FlightSize + SMSS there would restart in slow start, one segment that a
// delayed ACK holds back.
func (prrWindow) exit(c *core) { c.cwnd = c.ssthresh }
