package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// Explicit Congestion Notification (RFC 3168): negotiated in the
// handshake (SYN with ECE and CWR, SYN-ACK with ECE), new data sent
// ECT(0), a CE mark echoed with ECE until the sender's CWR, and the
// sender's window reduced at most once per window of data.

// ECN bits of the IPv4 TOS byte and of the IPv6 traffic class (RFC 3168,
// RFC 8200 section 7: the same two low bits).
const (
	ecnMask = 0x03
	ecnECT0 = 0x02
	ecnCE   = 0x03
)

// ecnState is a connection's ECN state, embedded in the core.
type ecnState struct {
	ecnOffer bool // request ECN in our SYN (active open)
	ecnOn    bool // negotiated
	// ecnEcho says a CE mark arrived and no CWR since: our ACKs carry ECE.
	ecnEcho bool
	// ecnCWR says the window was reduced for an ECE: the next new data
	// segment carries CWR.
	ecnCWR bool
	// ecnRecover is SND.MAX at the last reduction: ECE for data up to it
	// belongs to the same window and is not acted on again.
	ecnRecover seqnum.Value
}

// ecnSynFlags are the ECN flags of our SYN or SYN-ACK. A retransmitted
// SYN drops the request (RFC 3168 6.1.1.1: a middlebox may drop ECN
// SYNs), so the connection then goes on without ECN.
func (c *core) ecnSynFlags() uint8 {
	switch c.state {
	case StateSynSent:
		if c.ecnOffer && c.retries == 0 {
			return FlagECE | FlagCWR
		}
		c.ecnOffer = false
	case StateSynReceived:
		if c.ecnOn && c.passive {
			return FlagECE
		}
	}
	return 0
}

// ecnReceive is the data receiver's side for an acceptable segment: CWR
// ends the echo, a CE mark (re)starts it and is acknowledged at once.
func (c *core) ecnReceive(seg *segment) {
	if seg.has(FlagCWR) {
		c.ecnEcho = false
	}
	if seg.ce {
		c.ctr.ecnCE.Inc()
		c.ecnEcho = true
		c.ackNow = true
	}
}

// onECE is the data sender's reaction to an ACK (for ack) with ECE: the
// congestion response of a loss, without retransmitting, once per window
// and not during or within the window of a loss recovery.
func (c *core) onECE(now time.Time, ack seqnum.Value) {
	if c.inRecovery || ack.LessThanEq(c.ecnRecover) || ack.LessThan(c.recover) || c.sndUna == c.sndMax {
		return
	}
	c.ctr.ecnReductions.Inc()
	flight := int(c.sndUna.Size(c.sndMax))
	c.ca.onLoss(&c.ccWindow, now, flight)
	c.cwnd = max(c.ssthresh, c.mss)
	c.ecnRecover = c.sndMax
	c.ecnCWR = true
}
