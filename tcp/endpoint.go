package tcp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// endpoint wraps a core with its lock, route, timer and the conditions
// Read, Write, Dial and Accept wait on.
//
// Locking: e.mu is taken before Protocol.mu and Listener.mu, never after.
// Segments are written with e.mu held: the IP layer below never calls back
// into the same endpoint synchronously (loopback and pipes deliver from
// their own goroutines), and nothing under e.mu calls user code or blocks
// on a condition.
type endpoint struct {
	p *Protocol
	// route is the connection's route; its addresses and the two ports
	// are the connection's four-tuple (id), kept once. The ports come
	// first, so that the demux's comparison (connTable) reads one cache
	// line of the endpoint.
	lport, rport uint16
	readers      int32 // Reads waiting (tests use it to know a Read blocks); here, in 32 bits, for the packing
	route        stack.PackedRoute

	mu sync.Mutex
	c  core

	// timer is nil while nothing is due (timerbox.go); the deadline it
	// is armed for is in it (armedAt).
	timer *timerBox

	// cond is what Read and Write wait on; after wakes them all when the
	// core raised an event (events.go) or an application call ran, so one
	// condition serves both directions.
	cond sync.Cond

	// listener is the listener a passive connection belongs to until it
	// is accepted; queued says it was handed to the accept queue.
	listener *Listener
	// rare holds the deadlines, a Dial's channel and a WriteTo's
	// TryWriter while there are any (rare.go); nil when there are none.
	rare *rare

	// The flags are kept together, so that the struct packs tightly.
	removed bool
	queued  bool
	dialEnd bool
	// csumOffload says the route's device completes our checksums: we
	// write the pseudo-header sum and mark packets ChecksumPartial.
	csumOffload bool
	userClosed  bool
	lingerZero  bool // SetLinger(0): Close resets
	// txQueued says the endpoint waits in its sender (senderOf) for its
	// queued segments to be sent (afterUser).
	txQueued bool
	// memWaiting says a Write waits among the budget's waiters (memWait).
	memWaiting bool
	// batchQueued says the endpoint waits in the protocol's batch list
	// for the end of a device's batch (batch.go); wakeBatch that its
	// waiters are woken then, and wakeLater (during a batched deliver)
	// that afterCore leaves them to it.
	batchQueued, wakeBatch, wakeLater bool
}

// id is the connection's four-tuple.
func (e *endpoint) id() tuple {
	return tuple{netip.AddrPortFrom(e.route.LocalAddr(), e.lport), netip.AddrPortFrom(e.route.RemoteAddr(), e.rport)}
}

// laddr and raddr are the addresses as package net has them, made on
// demand: an idle connection should not carry two more allocations.
func (e *endpoint) laddr() *net.TCPAddr { return net.TCPAddrFromAddrPort(e.id().local) }
func (e *endpoint) raddr() *net.TCPAddr { return net.TCPAddrFromAddrPort(e.id().remote) }

func newEndpoint(p *Protocol, id tuple, r stack.Route) *endpoint {
	iss, tsOff := p.isn(id, p.clock.Now())
	return newEndpointISS(p, id, r, iss, tsOff)
}

// newEndpointISS is newEndpoint with the initial sequence number and
// timestamp offset the caller chose (a SYN cookie's).
func newEndpointISS(p *Protocol, id tuple, r stack.Route, iss seqnum.Value, tsOff uint32) *endpoint {
	r.LocalAddr, r.RemoteAddr = id.local.Addr(), id.remote.Addr()
	e := &endpoint{p: p, route: r.Pack(), lport: id.local.Port(), rport: id.remote.Port()}
	e.cond.L = &e.mu
	e.c.init(&p.cfg, p.ctr, iss, routeMSS(r), tsOff)
	e.c.setFamily(id.remote.Addr())
	e.csumOffload, e.c.gsoMax = routeOffloads(r)
	return e
}

// routeMSS is the MSS we advertise on route r: its MTU less the network
// header (20 bytes for IPv4, 40 for IPv6: RFC 8200 section 8.3) and the
// 20-byte TCP header, never below the default of the family (536, or 1220
// for IPv6's 1280-byte minimum MTU).
func routeMSS(r stack.Route) int {
	nh := netHeaderLen(r.RemoteAddr)
	floor := defaultMSS4
	if nh == ipv6HeaderLen {
		floor = defaultMSS6
	}
	mss := r.MTU() - nh - HeaderLen
	return max(min(mss, stack.MaxPacketSize-stack.Headroom-MaxHeaderLen-nh), floor)
}

// setChecksum completes the checksum of the segment pkt holds for r:
// with offload the device sums header and payload over the pseudo-header
// sum (for the whole packet's length; for each cut segment when it
// segments) and stores the complement (ChecksumPartial); else it is
// computed here.
func setChecksum(pkt *stack.Packet, local, remote netip.Addr, offload bool) {
	b := pkt.Bytes()
	if offload {
		binary.BigEndian.PutUint16(b[16:], checksum.PseudoHeader(local, remote, stack.ProtocolTCP, uint16(len(b))))
		pkt.ChecksumPartial = true
		return
	}
	Header(b).SetChecksum(local, remote)
}

// routeOffloads reports what the device of route r does for us: whether
// it completes checksums, and how much payload one TSO super-segment may
// carry (0: no TSO). A local route (loopback) offloads nothing.
func routeOffloads(r stack.Route) (csum bool, gsoMax int32) {
	g, csum := r.Offloads()
	if !csum {
		return false, 0
	}
	if g > 0 {
		// The network header (IPv4 20, IPv6 40 bytes) and the largest
		// TCP header come off.
		gsoMax = int32(max(min(g, stack.MaxPacketSize-stack.Headroom)-netHeaderLen(r.RemoteAddr)-MaxHeaderLen, 0))
	}
	return true, gsoMax
}

// deliver hands an inbound segment to the connection. It returns false
// when the connection does not take it: a new SYN that may reuse a
// TIME_WAIT tuple (RFC 9293 3.10.7.4 / RFC 6191) goes to the listener.
//
// pkt, when not nil, is the packet seg came in: a batched segment's
// payload may be held in it until the end of the batch, written from
// there by a WriteTo's TryWriter (trywriter.go).
func (e *endpoint) deliver(seg *segment, pkt *stack.Packet) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.removed {
		return false
	}
	e.flush() // what an application call left for a sender leaves first, in order (afterUser)
	now := e.p.clock.Now()
	if e.c.state == StateTimeWait && seg.flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN && seg.seq.GreaterThan(e.c.rcvNxt) {
		e.c.closeWith(nil)
		e.afterCore(now)
		return false
	}
	if e.c.state == StateSynReceived && e.listener != nil && seg.flags&(FlagACK|FlagSYN|FlagRST) == FlagACK && e.listener.full() {
		// The accept queue is full: drop the ACK that would complete the
		// handshake and stay in SYN_RECEIVED; the SYN-ACK is retransmitted
		// and the peer's answer tried again (Linux with
		// tcp_abort_on_overflow = 0).
		e.p.ctr.listenOverflow.Inc()
		return true
	}
	if e.c.state == StateSynReceived && e.listener != nil && seg.flags&(FlagACK|FlagSYN|FlagRST) == FlagACK &&
		!seg.ack.InRange(e.c.sndUna.Add(1), e.c.sndMax.Add(1)) && e.listener.cookieValid(e.id(), seg, now) {
		// The ACK answers the SYN cookie we sent for this 4-tuple before
		// this half-open connection's SYN (a flood's with the peer's
		// address, or an old duplicate) took it: as Linux's
		// tcp_check_req, the listener gets it. The half-open connection
		// goes without a RST, which would reset the peer's connection,
		// and the listener accepts the cookie.
		e.c.closeWith(nil)
		e.afterCore(now)
		return false
	}
	if len(seg.payload) > 0 {
		e.c.unshed()
		e.takeTimer()
	}
	e.c.batching = seg.batched
	if seg.batched && pkt != nil && len(seg.payload) > 0 && e.canHold() {
		e.c.rcv.holdPkt = pkt
	}
	e.c.handleSegment(now, seg)
	e.c.batching = false
	e.c.rcv.holdPkt = nil
	if e.c.rcv.next == maxHeld && e.canWriteInline() {
		// As many as the ring holds: written now, while the first of
		// them are still in the CPU's cache, not at the end of the batch.
		e.writeInline(now)
		e.c.rcv.settle()
	}
	if e.c.rcv.next > 0 && !e.batchQueued {
		e.p.batchAdd(e) // the batch's end writes or settles what is held
	}
	// A Read waiting for the data is woken at the end of the batch, once;
	// a Write waiting for ACKs is woken at once, as without batches (it
	// refills the send buffer the ACKs drain, inline).
	e.wakeLater = seg.batched && e.readers > 0 && e.c.events.ev&evReadable != 0
	if (e.c.ackBatch || e.wakeLater) && !e.batchQueued {
		e.p.batchAdd(e)
	}
	e.afterCore(now)
	return true
}

// afterCore runs after every call into the core, with e.mu held: it sends
// what the core queued, reacts to state changes, wakes waiters and arms
// the timer.
func (e *endpoint) afterCore(now time.Time) { e.after(now, false, false) }

// afterUser is afterCore for the calls of the application (Read, Write,
// Close, Dial, socket options): the segments the core queued are handed to
// one of the protocol's sender goroutines instead of being written from the
// application's goroutine. The whole transmit path, down to the TAP's
// write system call, needs some 2.5 KiB of stack; run inline it would
// grow every connection's handler goroutine from 2 to 4 KiB for good (Go
// does not shrink it back): 2 KiB more for every idle connection. The
// segments are built from the send buffer by the sender, so no ACK may
// move the buffer under them: every other way into the core first sends
// what is pending (flush). The packets are built at once, under the
// lock, with their payload copied out of the send buffer, so an ACK that
// frees the buffer before they leave changes nothing in them; the flush
// only keeps the connection's segments in order on the wire.
func (e *endpoint) afterUser(now time.Time) { e.after(now, true, true) }

// inlineIO is the buffer size from which a Read or Write sends from the
// caller's goroutine after all: a goroutine that moves data in buffers this
// large gains little from a smaller stack, and a bulk transfer keeps its
// system calls on its own goroutine, in parallel with the others', instead
// of queueing them behind other connections' in a sender.
const inlineIO = 16 << 10

// afterIO is afterUser for a Read or Write with a buffer of n bytes.
func (e *endpoint) afterIO(now time.Time, n int) { e.after(now, n < inlineIO, true) }

// after is afterCore, afterUser and afterIO: queue says the segments go to
// a sender, app that an application call made them.
func (e *endpoint) after(now time.Time, queue, app bool) {
	ev, from := e.c.takeEvents()
	if st := e.c.state; ev&evState != 0 && from != st {
		e.traceState(from, st)
		if handshakeEnded(from, st) {
			if st != StateClosed && e.listener != nil {
				e.listener.enqueue(e) // may abort e when the listener is gone
			}
			e.endDial()
		}
	}
	if !queue || e.c.state == StateClosed || len(e.c.out) == 0 || !e.p.senderOf(e).queue(e) {
		e.flush()
	}
	if e.c.state == StateTimeWait && e.userClosed && !e.removed {
		// Nobody will use the endpoint again: TIME_WAIT goes on as a
		// record of the protocol's (timewait.go), and the endpoint is
		// let go as if closed, without a trace of it (the record ends
		// TIME_WAIT).
		e.flush()
		if letGo, overflow := e.p.timeWaitAdd(e, now); letGo {
			e.c.state = StateClosed
			if overflow {
				e.traceState(StateTimeWait, StateClosed)
			}
		}
	}
	if e.c.state == StateClosed && !e.removed {
		e.removed = true
		e.p.removeConn(e)
		e.stopTimer()
		e.giveTimer()
		e.endDial()
		if e.listener != nil && !e.queued {
			e.listener.pending.Add(-1)
			e.queued = true
		}
		// Nothing is sent any more: the send buffer goes back to its
		// pool; the receive buffer too unless unread data is left.
		if e.c.busy != idleBusy {
			e.c.snd.release()
			e.c.snd = ring{}
		}
		e.c.releaseRcv()
	}
	if e.c.state == StateClosed {
		e.c.releaseClosed(e.userClosed)
		if e.removed && e.userClosed {
			e.c.busyDrop()
		}
	}
	// The waiters are woken when the core raised something for them, or
	// after an application call (Close, CloseRead and CloseWrite change
	// what the others wait for; socket options may grow the buffers).
	// Data for a Read that waits comes at the end of the batch, once.
	switch {
	case ev == 0 && !app:
	case ev == evReadable && e.wakeLater && e.batchQueued:
		e.wakeBatch = true // at the end of the batch (batch.go)
	default:
		e.cond.Broadcast()
	}
	e.wakeLater = false
	e.armTimer(now, app)
}

// endDial ends a Dial's wait (startDial): the handshake ended, either
// way (dialEnd).
func (e *endpoint) endDial() {
	if !e.dialEnd {
		e.dialEnd = true
		if r := e.rare; r != nil && r.dialDone != nil {
			close(r.dialDone)
			r.dialDone = nil
			e.dropRare()
		}
	}
}

var tcpParams = stack.NetworkParams{Protocol: stack.ProtocolTCP, DontFragment: true}

// dropQueued forgets what the core emitted and was not yet sent (a
// SYN-ACK for a connection that could not be added).
func (e *endpoint) dropQueued() {
	if e.c.out != nil {
		e.c.out = e.c.out[:0]
	}
}

// flush builds and sends the segments the core queued, in order.
func (e *endpoint) flush() {
	for i := range e.c.out {
		if pkt, params := e.buildSeg(&e.c.out[i]); pkt != nil {
			_ = e.route.WritePacket(params, pkt)
		}
	}
	if e.c.out != nil { // nil in an idle connection's busy (busy.go), which is read-only
		e.c.out = e.c.out[:0]
	}
}

// buildSeg builds one segment in a fresh packet: header, options and the
// payload copied from the send buffer, then the checksum. The payload is
// found by sequence number, not by where it was in the buffer when the
// core queued the segment: data acknowledged since (an ACK processed
// before the segment was built) has left the buffer, and the segment
// loses it, or is not sent at all (nil) when nothing of it is left.
// So no way into the core needs the pending segments built first for
// them to be right; flushing first keeps the wire order.
func (e *endpoint) buildSeg(o *outSeg) (*stack.Packet, stack.NetworkParams) {
	if o.dataLen > 0 {
		if !e.trimAcked(o) {
			return nil, tcpParams
		}
		o.dataOff = int(e.c.sndBufSeq.Size(o.seq))
	}
	var opts SegmentOptions
	if o.syn {
		opts.HasMSS, opts.MSS = true, uint16(min(e.c.ourMSS, 0xffff))
		if e.c.sendWS {
			opts.HasWindowScale, opts.WindowScale = true, e.c.wsOffer
		}
		opts.SACKPermitted = e.c.sackOffer
	}
	if o.ts {
		opts.HasTimestamps, opts.TSVal, opts.TSEcr = true, o.tsVal, o.tsEcr
	}
	if o.nsack > 0 {
		opts.NumSACK = int(o.nsack)
		opts.SACK = o.sack
	}
	optLen := opts.EncodedLen()
	hl := HeaderLen + optLen
	pkt := stack.NewPacket(stack.Headroom, hl+o.dataLen)
	b := pkt.Bytes()
	f := Fields{
		SrcPort: e.lport, DstPort: e.rport,
		Seq: uint32(o.seq), Ack: uint32(o.ack), DataOffset: hl, Flags: o.flags, Window: o.wnd,
	}
	if o.flags&FlagACK == 0 {
		f.Ack = 0
	}
	f.Encode(b)
	if optLen > 0 {
		opts.Encode(b[HeaderLen:hl])
	}
	if o.dataLen > 0 {
		e.c.snd.copyAt(b[hl:], o.dataOff)
	}
	setChecksum(pkt, e.route.LocalAddr(), e.route.RemoteAddr(), e.csumOffload)
	if e.csumOffload && o.gso > 0 {
		pkt.GSOSize = uint16(o.gso)
	}
	e.p.ctr.txSegments.Inc()
	if o.flags&FlagRST != 0 {
		e.p.ctr.txRst.Inc()
	}
	params := tcpParams
	if o.ect {
		params.TOS = ecnECT0
	}
	return pkt, params
}

// trimAcked takes off o's payload what the peer acknowledged since o was
// queued; it reports false when o is left with nothing to send.
func (e *endpoint) trimAcked(o *outSeg) bool {
	if !o.seq.LessThan(e.c.sndBufSeq) {
		return true
	}
	e.p.ctr.txStaleTrimmed.Inc()
	acked := int(o.seq.Size(e.c.sndBufSeq))
	if acked < o.dataLen {
		o.seq, o.dataLen = e.c.sndBufSeq, o.dataLen-acked
		return true
	}
	if o.flags&FlagFIN == 0 {
		return false
	}
	o.seq, o.dataLen = o.seq.Add(seqnum.Size(o.dataLen)), 0 // the FIN alone
	o.gso = 0
	return true
}

// armTimer makes the clock timer fire no later than the core's deadline.
// A timer that fires early finds nothing due and re-arms itself. With no
// deadline the connection is idle and sheds what it holds for traffic
// (shedIdle), unless app says the caller is the application's goroutine:
// the pools' slow paths would grow its 2 KiB stack for good (afterUser).
func (e *endpoint) armTimer(now time.Time, app bool) {
	dl := e.c.deadline()
	if dl.IsZero() || e.removed {
		// Nothing is due: stop the timer rather than let an idle
		// connection's timer fire for nothing (each firing costs a
		// goroutine).
		if e.armedAt() != 0 {
			e.stopTimer()
		}
		if !app {
			e.c.shedIdle()
			e.giveTimer()
		}
		return
	}
	at := e.c.at(dl)
	if armed := e.armedAt(); armed != 0 && at >= armed {
		return
	}
	e.resetTimer(max(dl.Sub(now), 0), at)
}

func (e *endpoint) onTimer() {
	if !e.p.enterCB() {
		return
	}
	defer e.p.cbs.Done()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.firedTimer()
	if e.removed {
		e.giveTimer()
		return
	}
	e.flush() // what an application call left for a sender leaves first, in order (afterUser)
	now := e.p.clock.Now()
	if dl := e.c.deadline(); !dl.IsZero() && !now.Before(dl) {
		e.c.handleTimer(now)
	}
	e.afterCore(now)
}

// abortLocked resets the connection (RST if synchronized) and forgets it.
func (e *endpoint) abortLocked(now time.Time) {
	e.c.abort()
	e.afterCore(now)
}
