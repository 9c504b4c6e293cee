package tcp

// What only a connection with traffic needs. An idle connection (nothing
// in flight, nothing queued or held, its buffers given back: shedIdle)
// keeps its sequence space, windows, estimates and keepalive in the core,
// but not its buffers' rings, the segments to send, the SACK scoreboard,
// the tail loss probe's and the pacer's state, the deadlines of
// retransmission, delayed ACK and TIME_WAIT, the segment being timed, the
// counts of what is unanswered, RACK's segment records and CUBIC's state
// (zero until the connection leaves slow start): they are all zero then,
// and the core gives their struct (busy) back to a pool
// (tcp.idle.busy_released counts it). A server holding thousands of idle
// connections saves its size on each: the endpoint went from the
// 1,280-byte size class to the 768-byte one (TestEndpointSizeClass). A
// closed connection that its application closed too gives it back
// whatever it holds (busyDrop).
//
// The core of an idle connection points at idleBusy, a busy of zeros on a
// read-only page: whatever reads its buffers or queues sees them empty,
// as they are, and a write into it faults at once (a missing busyOn) rather
// than touching every idle connection's state. Every way into the core
// that may change them takes a busy from the pool first (busyOn): a
// segment, a timer, a Read with data or a Write, a close, a socket
// option. The pool's struct is zero but for spare capacity in slices of
// length zero, so a connection that takes one is exactly where it was.
// Whether a busy is all zero is a comparison of its bytes: state nobody
// classified as idle is never lost, only kept.

import (
	"math"
	"os"
	"sync"
	"unsafe"

	"github.com/tapstack/tapstack/internal/seqnum"
	"golang.org/x/sys/unix"
)

// busy is the core's part that only traffic needs (above).
type busy struct {
	snd  ring       // the send buffer (sendspace.go)
	rcv  ring       // the receive buffer (recvspace.go)
	sb   scoreboard // what the peer SACKed (sack.go)
	tlp  tlpState   // tlp.go
	pace paceState  // pace.go
	// ooo are the out-of-order ranges held, sorted; their data is in
	// oooq (ooo.go).
	ooo []seqRange
	// out collects the segments the core emits; the endpoint builds
	// their packets (endpoint.flush), in the caller's goroutine or, after
	// an application call, in a sender's.
	out []outSeg

	// What is zero while nothing is due, in flight or unanswered:
	err        error        // the terminal error (reset, refused, timed out)
	rtxAt      stamp        // retransmission or persist deadline; 0: not armed
	ackAt      stamp        // when the delayed ACK is due; 0: none is
	twAt       stamp        // TIME_WAIT or orphaned FIN_WAIT_2 deadline; 0: none
	dsack      seqRange     // a duplicate to report once (RFC 2883)
	finSeq     seqnum.Value // our FIN's sequence number, once queued
	rcvFinSeq  seqnum.Value // the peer's FIN's, once received
	retries    int32        // retransmission timeouts in a row
	dupAcks    int32        // duplicate ACKs counted (loss recovery)
	rcvUnacked int32        // bytes received and not yet acknowledged
	kaSent     int32        // keepalive probes sent unanswered
	rttStart   stamp        // when the timed segment was sent (rttTiming)
	rttSeq     seqnum.Value // the timed segment's end (rttTiming)

	// CUBIC's state (cc.go), zero until a connection leaves slow start:
	// c.ca points at it when CUBIC runs. RACK's records (rack.go):
	// c.rack's rackRecs points at them. setBusy keeps both pointing into
	// the connection's busy.
	cubic    cubic
	rackRecs rackRecs
}

// idleBufs is what an idle connection keeps of its buffers: their limits
// and the lengths they had (ring.max, ring.hint), in 32 bits.
type idleBufs struct {
	sndMax, sndHint, rcvMax, rcvHint int32
}

var busyPool = sync.Pool{New: func() any { return new(busy) }}

// idleBusy is the zero busy of idle connections, on a read-only page; nil
// when the page could not be mapped (then connections keep their busy).
var idleBusy = mapIdleBusy()

func mapIdleBusy() *busy {
	size := max(os.Getpagesize(), int(unsafe.Sizeof(busy{})))
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	return (*busy)(unsafe.Pointer(&b[0]))
}

// busyOn gives an idle connection its busy back, before anything may
// change what it holds. Its buffers are charged to the protocol's budget
// (cfg.mem), as init made them.
func (c *core) busyOn() {
	if c.busy != idleBusy {
		return
	}
	b := busyPool.Get().(*busy)
	i := &c.idleBufs
	b.snd.max, b.snd.hint, b.snd.mem = int(i.sndMax), int(i.sndHint), c.cfg.mem
	b.rcv.max, b.rcv.hint, b.rcv.mem = int(i.rcvMax), int(i.rcvHint), c.cfg.mem
	c.setBusy(b)
}

// setBusy makes b the connection's busy, and what points into the busy
// (CUBIC's state as c.ca, RACK's records) point into b. Every change of
// c.busy goes through here.
func (c *core) setBusy(b *busy) {
	if p, ok := c.ca.(*cubic); ok && c.busy != nil && p == &c.busy.cubic {
		c.ca = &b.cubic
	}
	c.busy = b
	c.rack.rackRecs = &b.rackRecs
}

// newBusy gives a core being initialised its busy: the one it had, reset,
// keeping the capacity of its slices, or a pooled one.
func (c *core) newBusy() *busy {
	b := c.busy
	if b == nil || b == idleBusy {
		return busyPool.Get().(*busy)
	}
	*b = busy{out: b.out[:0], sb: scoreboard{blocks: b.sb.blocks[:0]}, ooo: b.ooo[:0], rackRecs: rackRecs{segs: b.rackRecs.segs}}
	return b
}

// busyOff gives the busy of an idle connection back to the pool when all
// it holds is zero but for its buffers' limits (kept in idleBufs) and
// spare capacity (kept with it in the pool). Otherwise it keeps it.
func (c *core) busyOff() {
	b := c.busy
	if b == idleBusy || idleBusy == nil || b.snd.max > math.MaxInt32 || b.rcv.max > math.MaxInt32 {
		return
	}
	i := idleBufs{int32(b.snd.max), int32(b.snd.hint), int32(b.rcv.max), int32(b.rcv.hint)}
	blocks, ooo, sm, rm := b.sb.blocks, b.ooo, b.snd.mem, b.rcv.mem
	if len(blocks) > 0 || len(ooo) > 0 {
		return
	}
	b.sb.blocks, b.ooo = nil, nil
	if b.pace.p == nil {
		// A failed type assertion leaves the interface's data word as it
		// was (setCongestionControl): nil, but not zero bytes.
		b.pace.p = nil
	}
	b.snd.max, b.snd.hint, b.snd.mem = 0, 0, nil
	b.rcv.max, b.rcv.hint, b.rcv.mem = 0, 0, nil
	if *(*[unsafe.Sizeof(busy{})]byte)(unsafe.Pointer(b)) != [unsafe.Sizeof(busy{})]byte{} {
		b.sb.blocks, b.ooo = blocks, ooo
		b.snd.max, b.snd.hint, b.snd.mem = int(i.sndMax), int(i.sndHint), sm
		b.rcv.max, b.rcv.hint, b.rcv.mem = int(i.rcvMax), int(i.rcvHint), rm
		return
	}
	b.sb.blocks, b.ooo = blocks, ooo
	c.idleBufs = i
	c.setBusy(idleBusy)
	busyPool.Put(b)
	c.ctr.busyReleased.Inc()
}

// busyDrop gives back the busy of a connection that is closed, forgotten
// by the protocol and closed by the application: nobody reads it any more
// (its error included: the application's calls return net.ErrClosed). A
// busy whose buffers still hold memory, or with segments queued for a
// sender, stays with its endpoint.
func (c *core) busyDrop() {
	b := c.busy
	if b == idleBusy || idleBusy == nil || len(b.out) > 0 || b.snd.chunk != nil || b.rcv.chunk != nil ||
		b.rcv.next > 0 || b.rcv.pinned {
		return
	}
	if b.out != nil {
		outPool.put(b.out)
	}
	if b.rackRecs.segs != nil {
		rackPool.put(b.rackRecs.segs)
	}
	*b = busy{sb: scoreboard{blocks: b.sb.blocks[:0]}, ooo: b.ooo[:0]}
	c.setBusy(idleBusy)
	busyPool.Put(b)
}
