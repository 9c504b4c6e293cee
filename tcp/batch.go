package tcp

import "time"

// ACKs per batch: a device that reads packets in batches (a TAP reads
// until it has nothing more) marks them Batched and calls EndBatch after
// the last one (stack.BatchEnder). A connection that received data in the
// batch, and would acknowledge it at once by the every-second-segment
// rule, sets ackBatch instead and waits in the protocol's batch list;
// EndBatch sends its one ACK, with the window as it then is. Out-of-order
// data, filled holes, FINs and the quick ACKs of a connection's start are
// still acknowledged at once (recvspace.go). Linux does the same for the
// segments GRO merges (one ACK per merged packet) and, since 6.7, for the
// segments it processes from a socket's backlog (tcp_backlog_ack_defer);
// passt acknowledges the guest's data once per batch of frames it reads
// from its tap.

// batchAdd puts e, whose lock the caller holds, in the batch list.
func (p *Protocol) batchAdd(e *endpoint) {
	e.batchQueued = true
	p.batchMu.Lock()
	p.batch = append(p.batch, e)
	p.batchMu.Unlock()
}

// EndBatch implements stack.BatchEnder: the connections that received
// data in the device's batch send their ACK and wake their waiting Reads; it
// reports whether ACKs were sent. Devices call it from their reader
// goroutines, several at once when a TAP has several queues; a call then
// also sends the ACKs another queue's batch deferred, a little early.
func (p *Protocol) EndBatch() bool {
	sent := false
	for {
		p.batchMu.Lock()
		n := len(p.batch)
		if n == 0 {
			p.batchMu.Unlock()
			return sent
		}
		e := p.batch[n-1]
		p.batch[n-1] = nil
		p.batch = p.batch[:n-1]
		p.batchMu.Unlock()
		if e.endBatch() {
			sent = true
		}
	}
}

// endBatch sends the ACK that e's core deferred to the end of the batch,
// and wakes the waiters it deferred; it reports whether it sent anything.
// A WriteTo with a TryWriter first gets the data written inline
// (trywriter.go), and is woken only when something is left for it; the
// ACK then carries the window that opened.
func (e *endpoint) endBatch() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batchQueued = false
	wake := e.wakeBatch
	e.wakeBatch = false
	inline := e.canWriteInline()
	if !inline {
		e.c.rcv.settle() // held payloads nobody writes now go into the buffer
	}
	if !inline && (e.removed || !e.c.ackBatch) {
		// A WriteTo whose data was all written inline meanwhile (when
		// its held segments filled up, endpoint.deliver) would only wait
		// again; woken, it could take the next batch's data from under
		// its end (and write it itself, a wake-up per batch).
		if wake && (e.inl() == nil || !e.writeToIdle()) {
			e.cond.Broadcast()
		}
		return false
	}
	e.flush() // what an application call left for a sender leaves first, in order (afterUser)
	now := e.p.clock.Now()
	if inline {
		e.writeInline(now)
		e.c.rcv.settle() // what the writer did not take goes into the buffer
		// Wake the WriteTo when something is left for it, even if no
		// deferred wake-up was due (it always waits when it is not
		// writing, so one more Broadcast costs nothing if it is not).
		wake = (wake || e.readers > 0) && !e.writeToIdle()
	}
	if wake {
		e.cond.Broadcast()
	}
	e.c.endBatch(now)
	sent := len(e.c.out) > 0
	e.afterCore(now)
	return sent
}

// endBatch queues the ACK deferred to the end of the batch, if one waits.
func (c *core) endBatch(now time.Time) {
	if c.ackBatch {
		c.busyOn()
		c.ackBatch = false
		c.ackNow = true
		c.output(now)
	}
}
