package tcp

// ICMP errors about a connection's segments: path MTU discovery (RFC
// 1191, RFC 5927) and the hard errors that fail a connection attempt.

import (
	"math"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// minPathMTU is the smallest MTU a fragmentation-needed error may set
// (Linux min_pmtu).
const minPathMTU = 552

// handleError applies an ICMP error (or local failure) about a segment
// with sequence number seq. A connection attempt fails from a hard error;
// a fragmentation-needed error lowers the MSS of any connection and
// resends what is in flight in smaller segments (RFC 1191, RFC 5927:
// only for a sequence number in flight).
func (c *core) handleError(now time.Time, kind stack.ErrorKind, seq seqnum.Value, mtu int) {
	c.busyOn()
	if kind == stack.ErrorFragmentationNeeded {
		if !c.state.synchronized() && !c.state.handshaking() || !seq.InRange(c.sndUna, c.sndMax) || mtu <= 0 {
			return
		}
		old, oldPMTU := c.mss, c.pmtuMSS
		// pmtuMSS has 32 bits: an MSS beyond them (from an IPv6 Packet
		// Too Big's 32-bit MTU) bounds nothing, as MaxInt32 does not.
		c.pmtuMSS = int32(min(max(mtu, minPathMTU)-40, math.MaxInt32))
		if c.peerMSS == 0 {
			c.peerMSS = int32(c.defaultMSS())
		}
		c.setMSS()
		if c.mss >= old {
			c.mss, c.pmtuMSS = old, oldPMTU
			return
		}
		c.ctr.pmtuUpdates.Inc()
		if c.state.synchronized() {
			// Resend everything in flight in the new size, without a
			// congestion response (Linux tcp_simple_retransmit).
			c.rttTiming, c.rttSeq, c.rttStart = false, 0, 0
			c.sndNxt = c.sndUna
			c.output(now)
		}
		return
	}
	if c.state != StateSynSent || !seq.InRange(c.sndUna, c.sndMax) {
		return
	}
	var err error
	switch kind {
	case stack.ErrorNetUnreachable:
		err = stack.ErrNoRoute
	case stack.ErrorHostUnreachable, stack.ErrorAdministrativelyProhibited:
		err = stack.ErrHostUnreachable
	case stack.ErrorPortUnreachable:
		err = stack.ErrConnectionRefused
	case stack.ErrorProtocolUnreachable:
		err = errProtocolUnreachable
	default:
		return
	}
	c.closeWith(err)
}
