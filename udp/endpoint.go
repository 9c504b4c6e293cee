package udp

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// entry is one queued datagram: the packet, its data starting at the
// payload (its Dst still the datagram's destination address), the sender,
// and whether it was sent to a broadcast or multicast address.
type entry struct {
	p     *stack.Packet
	from  netip.AddrPort
	multi bool
}

// ring is a FIFO of entries that reuses its storage, so steady-state
// queueing allocates nothing. Its length is bounded by the receive buffer
// accounting of the endpoint.
type ring struct {
	buf  []entry
	head int
	n    int
}

func (r *ring) push(e entry) {
	if r.n == len(r.buf) {
		nb := make([]entry, max(16, 2*len(r.buf)))
		for i := 0; i < r.n; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

func (r *ring) pop() entry {
	e := r.buf[r.head]
	r.buf[r.head] = entry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return e
}

// cost is what a datagram of the given payload length charges to the
// receive queue.
func cost(n int) int { return n + datagramOverhead }

// score ranks how well c matches an inbound unicast datagram: 3 for a
// connected endpoint on the exact 4-tuple, 2 for one bound to the
// destination address, 1 for a wildcard that takes the destination's
// family, 0 for no match.
func (c *Conn) score(src, dst netip.AddrPort) int {
	switch {
	case c.remote.IsValid():
		if c.remote == src && c.local.Addr() == dst.Addr() {
			return 3
		}
		return 0
	case c.local.Addr() == dst.Addr():
		return 2
	case c.local.Addr().IsUnspecified() && c.takes(dst.Addr()):
		return 1
	}
	return 0
}

// matchesMulti reports whether c receives a broadcast or multicast datagram:
// like Linux, every endpoint bound to the wildcard or to that address does,
// whether or not it enabled broadcast (that gates sending only).
func (c *Conn) matchesMulti(src, dst netip.AddrPort) bool {
	if c.remote.IsValid() && c.remote != src {
		return false
	}
	return (c.local.Addr().IsUnspecified() && c.takes(dst.Addr())) || c.local.Addr() == dst.Addr()
}

// enqueue takes ownership of p (data at the payload) and queues it, or
// drops it when the queue is full or c is closed. multi says that p was
// sent to a broadcast or multicast address.
func (c *Conn) enqueue(p *stack.Packet, from netip.AddrPort, multi bool) {
	n := cost(p.Len())
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		p.Release()
		return
	}
	if c.used > 0 && c.used+n > c.limit {
		c.mu.Unlock()
		c.u.rxQueueFull.Inc()
		p.Release()
		return
	}
	c.q.push(entry{p, from, multi})
	c.used += n
	c.mu.Unlock()
	c.u.rxDelivered.Inc()
	c.signal()
}

// signal wakes one blocked reader, if any.
func (c *Conn) signal() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// setError records an ICMP-reported error for the next Read or Write and
// wakes a blocked reader.
func (c *Conn) setError(err error) {
	c.mu.Lock()
	c.softErr = err
	c.mu.Unlock()
	c.signal()
}

// takeError returns and clears the pending error.
func (c *Conn) takeError() error {
	c.mu.Lock()
	err := c.softErr
	c.softErr = nil
	c.mu.Unlock()
	return err
}

// dequeue copies the next datagram into b, blocking until one arrives, the
// read deadline passes, an error is reported or c is closed. It returns the
// bare cause; callers wrap it in a *net.OpError.
func (c *Conn) dequeue(b []byte) (int, MsgInfo, error) {
	if c.rd.expired() {
		return 0, MsgInfo{}, errDeadline
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, MsgInfo{}, errClosed
		}
		if err := c.softErr; err != nil {
			c.softErr = nil
			c.mu.Unlock()
			return 0, MsgInfo{}, err
		}
		if c.q.n > 0 {
			e := c.q.pop()
			c.used -= cost(e.p.Len())
			more := c.q.n > 0
			c.mu.Unlock()
			if more {
				c.signal() // pass the wake-up on to another blocked reader
			}
			n := copy(b, e.p.Bytes())
			m := MsgInfo{From: zoned(e.from, e.p.NIC), To: netip.AddrPortFrom(e.p.Dst, c.local.Port()), Group: e.multi}
			e.p.Release()
			return n, m, nil
		}
		c.mu.Unlock()
		select {
		case <-c.ready:
		case <-c.done:
		case <-c.rd.wait():
			return 0, MsgInfo{}, errDeadline
		}
	}
}

// queuedBytes reports the receive-queue usage.
func (c *Conn) queuedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// close unbinds c, drops its queue and wakes blocked readers. It reports
// whether c was open.
func (c *Conn) close() bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed = true
	for c.q.n > 0 {
		c.q.pop().p.Release()
	}
	c.used = 0
	c.mu.Unlock()
	if c.flow != nil {
		c.flow.f.remove(c.flow)
	} else {
		c.u.unbind(c)
	}
	close(c.done)
	c.leaveGroups()
	c.rd.stop()
	c.wd.stop()
	return true
}

// zoned gives a link-local IPv6 sender the zone of the interface the
// datagram came in on, as Linux (sin6_scope_id) and Go's net do, so that
// a reply to it leaves by that interface and not by the first one with
// IPv6 (stack.FindRoute reads the zone).
func zoned(from netip.AddrPort, nic *stack.NIC) netip.AddrPort {
	if a := from.Addr(); nic != nil && a.Is6() && a.IsLinkLocalUnicast() {
		return netip.AddrPortFrom(a.WithZone(nic.Name()), from.Port())
	}
	return from
}
