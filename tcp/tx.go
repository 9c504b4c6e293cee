package tcp

import (
	"sync"

	"github.com/tapstack/tapstack/stack"
)

// Writing a connection's packets without its lock.
//
// A packet is built under the connection's lock (endpoint.buildSeg copies
// its payload out of the send buffer), so once built it needs nothing of
// the connection. Writing it is the long part: a TAP write runs the
// receiving kernel's stack inline, tens of microseconds for a 64 KiB
// super-segment, and a bulk sender held the lock all that time. The TAP
// reader then waited on the lock with the peer's ACK (a third of its time
// in a 1-stream download: the mutex profile), and ACK processing and the
// next write took turns instead of overlapping.
//
// So the busiest callers (a large Write, the TAP reader's delivery and
// its batch end, the senders) defer their writes: flush queues the packets
// in the connection's txQueue, and at the end of the call transmit writes
// them with the lock released. Whoever queues packets while a transmit is
// under way leaves them to it (it looks again when it has written what it
// took), so the connection's packets leave in the order they were built
// and only one goroutine writes them at a time. Other callers (timers,
// ICMP errors) write inline as before when no transmit is under way.
//
// Invariant: whenever the lock is free, the connection has no txQueue or
// one with a transmit under way. The queue comes from a pool and goes back
// when the transmit ends, so a connection between writes keeps only a nil
// pointer in its busy part (which still sheds when idle).

// txQueue holds a connection's built packets waiting for transmit.
type txQueue struct {
	q      []txPkt
	spare  []txPkt // the slice transmit is writing from, swapped back in
	active bool    // a transmit is writing with the lock released
}

// txPkt is a built packet and its network parameters.
type txPkt struct {
	pkt    *stack.Packet
	params stack.NetworkParams
}

var txPool = sync.Pool{New: func() any { return new(txQueue) }}

// deferTx makes the segments flush builds from now on wait for transmit,
// which the caller calls before it releases the lock. e.mu is held.
func (e *endpoint) deferTx() { e.txDefer = true }

// queueTx reports whether flush queues its packets instead of writing
// them: the caller defers, or a transmit is under way (its packets go
// after the ones it has, in order).
func (e *endpoint) queueTx() bool { return e.txDefer || e.c.busy.tx != nil }

// enqueueTx adds a built packet to the connection's queue.
func (e *endpoint) enqueueTx(pkt *stack.Packet, params stack.NetworkParams) {
	b := e.c.busy
	if b.tx == nil {
		b.tx = txPool.Get().(*txQueue)
	}
	b.tx.q = append(b.tx.q, txPkt{pkt, params})
}

// transmit ends the deferral of deferTx: it writes the queued packets with
// e.mu released, and then what others queued meanwhile, until none is
// left, unless another transmit is under way (which writes them). It
// returns with e.mu held; the connection may have changed meanwhile. app
// says the caller is the application's goroutine (as for armTimer).
func (e *endpoint) transmit(app bool) {
	e.txDefer = false
	b := e.c.busy
	tx := b.tx
	if tx == nil || tx.active {
		return
	}
	tx.active = true
	for len(tx.q) > 0 {
		batch := tx.q
		tx.q = tx.spare[:0]
		route := e.route
		e.mu.Unlock()
		for i := range batch {
			_ = route.WritePacket(batch[i].params, batch[i].pkt)
			batch[i] = txPkt{}
		}
		e.mu.Lock()
		tx.spare = batch[:0]
	}
	tx.active = false
	b.tx = nil // the busy cannot have changed: busyOff and busyDrop keep one with a queue
	txPool.Put(tx)
	// What the queue kept from being given back goes now: the busy of a
	// connection that went idle (armTimer's shedIdle), or of one closed
	// and forgotten (after's busyDrop).
	switch {
	case e.c.state == StateClosed && e.removed && e.userClosed:
		e.c.busyDrop()
	case !app && (e.removed || e.c.deadline().IsZero()):
		e.c.shedIdle()
	}
}

// unlockTx is transmit, then the unlock: the deferred unlock of a caller
// that deferred.
func (e *endpoint) unlockTx() {
	e.transmit(false)
	e.mu.Unlock()
}
