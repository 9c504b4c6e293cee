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

// inlineWriter is the TryWriter of a WriteTo in progress (endpoint.inl),
// with what was written through it and its error, which WriteTo adds to
// its count and returns.
type inlineWriter struct {
	tw  TryWriter
	n   int64
	err error
}

// canWriteInline says whether the end of a batch may write e's received
// data through the TryWriter of its WriteTo: one waits for data (the
// buffer is not pinned by its own write), there is data, and a Read would
// take it (not closed, not shut, no read deadline passed). e.mu is held.
func (e *endpoint) canWriteInline() bool {
	iw := e.inl
	return iw != nil && iw.err == nil && !e.removed && !e.c.rcv.pinned && e.c.rcv.n > 0 &&
		!e.userClosed && !e.c.readShut && !deadlinePassed(e.rdDeadline())
}

// writeInline writes the received data to the WriteTo's TryWriter until
// it takes no more, and takes what it took from the receive buffer as a
// Read would (the window opens, an update may be queued). e.mu is held
// and canWriteInline was true.
func (e *endpoint) writeInline(now time.Time) {
	iw := e.inl
	total := 0
	for e.c.rcv.n > 0 {
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
	return e.c.rcv.n == 0 && e.inl.err == nil && !e.c.finRcvd && e.c.err == nil && e.c.state != StateClosed
}
