package tcp

import (
	"io"
	"net"
	"os"
)

// writeToMax bounds one write of WriteTo: w gets the buffered data in
// pieces of at most this size, so that the window opens as they go.
const writeToMax = 1 << 20

// WriteTo writes the received data to w until the peer's FIN (then it
// returns a nil error, as io.WriterTo does at EOF) or an error of either
// side. It implements io.WriterTo, so io.Copy(w, c) uses it. The data is
// written from the connection's receive buffer itself, in views of up to
// 1 MiB, with no copy into an intermediate buffer: a relay to a kernel
// socket saves one copy of every byte. Data leaves the buffer, and the
// window opens, only as w takes it, so a w that does not drain stops the
// peer (back-pressure). Other Reads of the connection wait meanwhile.
//
// When w also implements TryWriter, the data that arrives while WriteTo
// waits is written to w by the goroutine that received it, at the end of
// its batch, with TryWrite; WriteTo wakes only to Write what TryWrite left
// (TryWriter). Its count and error are WriteTo's.
func (c *Conn) WriteTo(w io.Writer) (total int64, err error) {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	var iw *inlineWriter // nil when another WriteTo has one
	if tw, ok := w.(TryWriter); ok && e.inl() == nil {
		iw = &inlineWriter{tw: tw}
		iw.bw, _ = w.(TryBuffersWriter)
		e.takeRare().inl = iw
		defer func() {
			e.rare.inl = nil
			e.dropRare()
			total += iw.n
		}()
	}
	for {
		switch {
		case iw != nil && iw.err != nil:
			return total, iw.err
		case e.userClosed:
			return total, c.opErr("read", net.ErrClosed)
		case deadlinePassed(e.rdDeadline()):
			return total, c.opErr("read", os.ErrDeadlineExceeded)
		case e.c.readShut:
			return total, nil
		case e.c.rcv.pinned: // another WriteTo writes
		case e.c.rcv.n > 0:
			n, err := e.writeOut(w)
			total += int64(n)
			if err != nil {
				return total, err
			}
			continue
		case e.c.finRcvd:
			return total, nil
		case e.c.err != nil:
			return total, c.opErr("read", e.c.err)
		case e.c.state == StateClosed:
			return total, nil
		}
		e.readers++
		e.cond.Wait()
		e.readers--
	}
}

// writeOut writes the start of the receive buffer to w, without e.mu
// (held on entry and on return) while w.Write runs: the buffer is pinned
// (ring.pinned) and Reads wait, so the bytes written stay where they are;
// new data goes behind them, and a buffer that grows meanwhile moves them
// to a new one but leaves the old one intact. What w took is then dropped
// from the buffer, unless the application closed the connection or shut
// reading meanwhile (then the buffer was emptied already).
func (e *endpoint) writeOut(w io.Writer) (int, error) {
	a, b := e.c.rcv.peek(writeToMax)
	e.c.rcv.pinned = true
	e.mu.Unlock()
	n, err := w.Write(a)
	if err == nil && len(b) > 0 {
		var m int
		m, err = w.Write(b)
		n += m
	}
	e.mu.Lock()
	e.c.rcv.pinned = false
	if n > 0 && !e.userClosed && !e.c.readShut {
		now := e.p.clock.Now()
		e.c.rcv.discard(n)
		e.c.consumed(now, n)
		e.afterIO(now, n)
	} else {
		e.cond.Broadcast() // Reads waiting for the pin
	}
	return n, err
}
