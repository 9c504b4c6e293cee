package tcp

import "time"

// TryWriter is a writer that can write without waiting: TryWrite writes
// what of b it can at once and returns how much that was, 0 and a nil
// error when it would have to wait (a full socket buffer), or an error.
// It must never block and never call back into the connection.
//
// When the writer given to Conn.WriteTo implements TryWriter, the data
// that arrives while WriteTo waits is written to it at the end of the
// device's batch (batch.go), by the goroutine that received it, with the
// connection's lock held: no hand-off to the WriteTo goroutine, which is
// woken only when TryWrite could not take everything (it then goes on
// with Write, which may wait), failed, or the connection ended. So
// TryWrite and Write are never called at the same time, but may be
// called from different goroutines. The gateway's relay to a kernel
// socket is the user (gateway/rawio.go): one goroutine wake-up less per
// batch of uploaded data.
type TryWriter interface {
	TryWrite(b []byte) (n int, err error)
}

// TryBuffersWriter is a TryWriter that can also write several buffers,
// in order, in one call (writev): TryWriteBuffers writes what of them it
// can at once and returns how many bytes that was, with TryWrite's rules.
//
// When the TryWriter given to Conn.WriteTo is also a TryBuffersWriter,
// the payloads of the segments that arrive in a device's batch while the
// receive buffer is empty are not copied into it: the connection keeps
// them in their packets (a reference each) and at the end of the batch
// writes them from there with one TryWriteBuffers; what it does not take
// is copied into the buffer then. So each byte a TAP hands us is copied
// once less. (Written segment by segment as they arrive instead, the
// gateway's upload cost more CPU than the copy: a host socket write per
// 64 KiB super-segment, not per batch.)
type TryBuffersWriter interface {
	TryWriter
	TryWriteBuffers(b [][]byte) (n int, err error)
}

// inlineWriter is the TryWriter of a WriteTo in progress (rare.inl),
// with what was written through it and its error, which WriteTo adds to
// its count and returns.
type inlineWriter struct {
	tw  TryWriter
	bw  TryBuffersWriter // tw, when it is one
	n   int64
	err error
	iov [maxHeld][]byte // the held payloads, for bw
}

// canWriteInline says whether the end of a batch may write e's received
// data through the TryWriter of its WriteTo: one waits for data (the
// buffer is not pinned by its own write), there is data, and a Read would
// take it (not closed, not shut, no read deadline passed). e.mu is held.
func (e *endpoint) canWriteInline() bool {
	return e.c.rcv.n > 0 && e.canTryWrite()
}

// canTryWrite is canWriteInline without the data. e.mu is held.
func (e *endpoint) canTryWrite() bool {
	iw := e.inl()
	return iw != nil && iw.err == nil && !e.removed && !e.c.rcv.pinned &&
		!e.userClosed && !e.c.readShut && !deadlinePassed(e.rdDeadline())
}

// canHold says whether the payload of a segment arriving in a batch may
// be held in its packet for the end of the batch (ring.hold): a WriteTo
// waits with a TryBuffersWriter. e.mu is held.
func (e *endpoint) canHold() bool {
	iw := e.inl()
	return iw != nil && iw.bw != nil && e.canTryWrite()
}

// writeInline writes the received data to the WriteTo's TryWriter until
// it takes no more, and takes what it took from the receive buffer as a
// Read would (the window opens, an update may be queued): the held
// payloads first, in one TryWriteBuffers, then what the buffer holds.
// e.mu is held and canWriteInline was true.
func (e *endpoint) writeInline(now time.Time) {
	iw := e.inl()
	total := 0
	more := true // the writer took everything so far
	if e.c.rcv.next > 0 && iw.bw != nil {
		held := e.c.rcv.extN
		n, err := iw.bw.TryWriteBuffers(e.c.rcv.held(iw.iov[:0]))
		n = min(max(n, 0), held)
		clear(iw.iov[:])
		e.c.rcv.discard(n)
		total += n
		if err != nil {
			iw.err = err
		}
		more = err == nil && n == held
	}
	for more && e.c.rcv.n > 0 {
		a, b := e.c.rcv.peek(writeToMax)
		n, err := tryWrite(iw.tw, a)
		if err == nil && n == len(a) && len(b) > 0 {
			var m int
			m, err = tryWrite(iw.tw, b)
			n += m
		}
		e.c.rcv.discard(n)
		total += n
		if err != nil {
			iw.err = err
			break
		}
		if n < len(a)+len(b) {
			break
		}
	}
	if total > 0 {
		iw.n += int64(total)
		e.c.consumed(now, total)
	}
}

// tryWrite is tw.TryWrite with the count kept within b.
func tryWrite(tw TryWriter, b []byte) (int, error) {
	n, err := tw.TryWrite(b)
	return min(max(n, 0), len(b)), err
}

// writeToIdle says whether a WriteTo woken now would only wait again:
// nothing to write, no error, no end. e.mu is held; the reasons
// canWriteInline checks (close, shutdown, deadline) it leaves to it.
func (e *endpoint) writeToIdle() bool {
	return e.c.rcv.n == 0 && e.inl().err == nil && !e.c.finRcvd && e.c.err == nil && e.c.state != StateClosed
}
