package tcp

// The receive sequence space and the receiver (RFC 9293 section 3.3.1):
// the window we offer, the sequence number test, in-order and
// out-of-order data, the FIN, and the application's reads.

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// rcvSpace is the receiver's state: the receive sequence space (RFC 9293
// section 3.3.1), the receive buffer and out-of-order data, the SACK
// blocks to report, delayed ACKs and receive-buffer auto-tuning. The core
// embeds it.
type rcvSpace struct {
	irs, rcvNxt  seqnum.Value
	lastAdvRight seqnum.Value
	rcvShift     uint8
	wsOffer      uint8 // shift we offer in our SYN
	rcvFinOOO    bool
	finRcvd      bool
	rcvMSS       int32 // the peer's segment size as we see it (here for the struct's packing)
	quickAcks    int32 // segments still acknowledged at once (delayed ACK, below)
	// The receive buffer (rcv) and the out-of-order ranges held, sorted,
	// their data in oooq (ooo), are in the core's busy (busy.go).
	// *oooState holds the out-of-order data and the order of its SACK
	// blocks: nil until data arrives out of order (oooOn), and again
	// once an idle connection holds none (shedIdle).
	*oooState
	// The delayed ACK's deadline and the bytes it covers are in busy.

	// Receive buffer auto-tuning.
	tuneStart  stamp
	tuneCopied int32 // in 32 bits: what a round trip copies stays below the buffer's maximum
	tuneSpace  int32
}

// maxOOO bounds the number of out-of-order ranges kept; data beyond it is
// dropped and retransmitted by the peer. Linux bounds its out-of-order
// queue by memory alone; the bound here (with maxOOOPieces and the
// memory charged) keeps the sorted slices' insertions cheap against a
// peer that makes holes on purpose, and is far above what a 3% reordering
// of a window of thousands of segments makes (32 was not: the peer's
// retransmissions of what we dropped cost it round trips and RTOs).
const maxOOO = 256

type seqRange struct{ start, end seqnum.Value }

// rcvWnd is the receive window: the free space of the receive buffer.
func (c *core) rcvWnd() int { return c.rcv.free() }

// advertise returns the window field for an outgoing segment.
func (c *core) advertise(syn bool) uint16 {
	free := c.advWnd()
	if syn {
		w := min(free, 0xffff)
		c.lastAdvRight = c.rcvNxt.Add(seqnum.Size(w))
		return uint16(w)
	}
	w := min(free>>c.rcvShift, 0xffff)
	c.lastAdvRight = c.rcvNxt.Add(seqnum.Size(w << c.rcvShift))
	return uint16(w)
}

// acceptable is the sequence number test of RFC 9293 section 3.10.7.4.
func (c *core) acceptable(seg *segment) bool {
	n := seg.seqLen()
	wnd := seqnum.Size(c.rcvWnd())
	switch {
	case n == 0 && wnd == 0:
		return seg.seq == c.rcvNxt
	case n == 0:
		return seg.seq.InWindow(c.rcvNxt, wnd)
	case wnd == 0:
		return false
	}
	return seg.seq.InWindow(c.rcvNxt, wnd) || seg.seq.Add(n-1).InWindow(c.rcvNxt, wnd)
}

// oldDuplicate reports whether seg lies entirely before rcvNxt and carries
// only an ACK, data or FIN (no SYN or RST).
func (c *core) oldDuplicate(seg *segment) bool {
	return seg.flags&(FlagSYN|FlagRST) == 0 && seg.has(FlagACK) &&
		seg.seq.Add(seg.seqLen()).LessThanEq(c.rcvNxt) && seg.seq.LessThan(c.rcvNxt)
}

// receiveData stores in-window data starting at seq (>= rcvNxt), as far
// as the memory budget allows (memory.go).
func (c *core) receiveData(now time.Time, seq seqnum.Value, p []byte) {
	if seq != c.rcvNxt {
		c.ctr.outOfOrder.Inc()
		if c.queueOOO(seq, p) {
			c.noteSACK(seq)
		}
		c.ackNow = true // out-of-order data is acknowledged at once
		return
	}
	if !c.rcvAdmit(len(p)) {
		c.ackNow = true // dropped for want of memory: tell the peer our window
		return
	}
	filled := len(c.ooo) > 0
	if !filled && c.rcv.canHold() {
		c.rcv.hold(p) // written out from its packet at the end of the batch (trywriter.go)
	} else {
		c.rcv.writeAt(c.rcv.n, p)
	}
	c.advanceRcv(seq.Add(seqnum.Size(len(p))))
	c.pullOOO() // the out-of-order data the new data reaches
	if c.readShut {
		c.rcv.discard(c.rcv.n)
		c.releaseRcv()
	}
	// Delayed ACK, Linux style: quick ACKs at the start, then an ACK for
	// every second full segment, at once when a hole was filled, else
	// within the delayed-ACK timeout. Data that came in a device's batch
	// is acknowledged once at the end of the batch (batch.go), unless it
	// reaches half the receive buffer: all the segments a connection
	// received in one batch get one ACK, as the ACKs of GRO segments,
	// and no segment waits longer than the batch. (With a TAP's 64 KiB
	// super-segments, one ACK per segment is one write into the TAP per
	// 64 KiB, and each runs the sender's TCP in that write.)
	c.rcvUnacked += int32(len(p))
	c.rcvMSS = max(c.rcvMSS, int32(min(len(p), int(c.ourMSS))))
	switch {
	case c.cfg.delAck == 0 || filled:
		c.ackNow = true
	case c.quickAcks > 0:
		c.quickAcks--
		c.ackNow = true
	case c.rcvUnacked > c.rcvMSS && c.batching && 2*int(c.rcvUnacked) < c.rcv.max:
		c.ackBatch = true
		if c.ackAt == 0 { // should the end of the batch never come
			c.ackAt = c.at(now.Add(c.cfg.delAck))
		}
	case c.rcvUnacked > c.rcvMSS:
		c.ackNow = true
	case c.ackAt == 0:
		c.ackAt = c.at(now.Add(c.cfg.delAck))
	}
}

func (c *core) advanceRcv(to seqnum.Value) {
	c.raise(evReadable)
	c.rcv.n += int(c.rcvNxt.Size(to))
	c.rcvNxt = to
}

// addOOO records [start, end) as received, merging neighbours.
func (c *core) addOOO(start, end seqnum.Value) {
	i := 0
	for i < len(c.ooo) && c.ooo[i].end.LessThan(start) {
		i++
	}
	j := i
	for j < len(c.ooo) && c.ooo[j].start.LessThanEq(end) {
		start = seqnum.Min(start, c.ooo[j].start)
		end = seqnum.Max(end, c.ooo[j].end)
		j++
	}
	if i == j {
		if len(c.ooo) == maxOOO {
			return // too fragmented: drop, the peer retransmits
		}
		c.ooo = append(c.ooo, seqRange{}) // grows on reordering only
		copy(c.ooo[i+1:], c.ooo[i:])
		c.ooo[i] = seqRange{start, end}
		return
	}
	c.ooo[i] = seqRange{start, end}
	c.ooo = append(c.ooo[:i+1], c.ooo[j:]...)
}

// receiveFin processes a FIN at rcvNxt.
func (c *core) receiveFin(now time.Time) {
	c.rcvNxt = c.rcvNxt.Add(1)
	c.finRcvd = true
	c.raise(evReadable)
	c.rcvFinOOO = false
	switch c.state {
	case StateEstablished:
		c.setState(StateCloseWait)
		c.delayFinAck(now)
		return
	case StateSynReceived:
		c.setState(StateCloseWait)
	case StateFinWait1:
		if c.finQueued && c.sndUna == c.finSeq.Add(1) {
			c.enterTimeWait(now)
		} else {
			c.setState(StateClosing)
		}
	case StateFinWait2:
		c.enterTimeWait(now)
	case StateTimeWait:
		c.twAt = c.at(now.Add(c.cfg.timeWait))
	}
	c.ackNow = true
}

// delayFinAck acknowledges the FIN that took an established connection
// to CLOSE_WAIT within the delayed-ACK timeout rather than at once, as
// Linux does (tcp_fin enters pingpong mode): an application that closes
// in turn, as a server does when its client goes away, sends its FIN
// before the timer fires and the FIN carries the ACK. A close is then
// three segments, not four: when 50,000 clients close at once, 50,000
// fewer writes into the TAP (each runs the peer's TCP in our system
// call) and 50,000 fewer frames for the peer, while the peer's FINs
// still queue to be read. An ACK already due (data that filled a hole,
// a full segment unacknowledged) goes at once as before; the quick ACKs
// of a connection's start do not hurry it (Linux's pingpong mode
// overrides quick ACK mode).
func (c *core) delayFinAck(now time.Time) {
	if c.cfg.delAck == 0 || c.ackNow {
		c.ackNow = true
		return
	}
	if at := c.at(now.Add(c.cfg.delAck)); c.ackAt == 0 || at < c.ackAt {
		c.ackAt = at
	}
}

// read moves received data into p and opens the window, telling the peer
// when the window grew by enough to matter (receiver SWS avoidance).
func (c *core) read(now time.Time, p []byte) int {
	c.busyOn()
	k := c.rcv.read(p)
	c.consumed(now, k)
	return k
}

// consumed opens the window after the application took k bytes from the
// receive buffer (read, or WriteTo straight from the buffer).
func (c *core) consumed(now time.Time, k int) {
	c.busyOn()
	if k == 0 {
		return
	}
	c.releaseRcv()
	c.autotune(now, k)
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		if c.windowUpdateDue() {
			c.ackNow = true
			c.output(now)
		}
	}
}

// windowUpdateDue says whether reading opened the window enough to tell
// the peer at once rather than with the next ACK: by at least
// min(buffer/2, MSS) (RFC 1122 receiver SWS avoidance), and, as Linux
// (__tcp_cleanup_rbuf), only when the window the peer knows is down to
// half the buffer or less and the new one is at least twice it. A reader
// that keeps up then sends no update per Read, only the ACKs of the data.
func (c *core) windowUpdateDue() bool {
	w := min(c.advWnd()>>c.rcvShift, 0xffff) << c.rcvShift
	newRight := c.rcvNxt.Add(seqnum.Size(w))
	if !newRight.GreaterThan(c.lastAdvRight) || int(c.lastAdvRight.Size(newRight)) < min(c.rcv.max/2, int(c.ourMSS)) {
		return false
	}
	known := 0 // the window the peer knows
	if c.lastAdvRight.GreaterThan(c.rcvNxt) {
		known = int(c.rcvNxt.Size(c.lastAdvRight))
	}
	return 2*known <= c.rcv.max && w >= 2*known
}

// shutdownRead is CloseRead: unread data is dropped and later data is
// acknowledged and discarded.
func (c *core) shutdownRead() {
	c.busyOn()
	c.readShut = true
	c.raise(evReadable)
	c.rcv.discard(c.rcv.n)
	c.releaseRcv()
}

// releaseRcv gives the receive buffer back when it holds nothing (data
// out of order waits elsewhere): an idle connection keeps no buffer.
func (c *core) releaseRcv() {
	if c.rcv.n == 0 {
		c.rcv.release()
	}
}
