package tcp

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Conn is a TCP connection. It implements net.Conn; its errors are
// *net.OpError values whose Err unwraps to a syscall.Errno (ECONNRESET,
// ECONNREFUSED, ETIMEDOUT, EPIPE) or is os.ErrDeadlineExceeded or
// net.ErrClosed, like the kernel's through package net.
type Conn struct {
	e *endpoint
}

// Dial opens a connection to addr, IPv4 or IPv6, from the address the
// route chooses and an ephemeral port (32768-60999); it is DialNetwork
// with network "tcp". ctx bounds the handshake.
func Dial(ctx context.Context, s *stack.Stack, addr netip.AddrPort) (*Conn, error) {
	return DialNetwork(ctx, s, "tcp", addr)
}

// DialNetwork is Dial for network "tcp", "tcp4" or "tcp6"; the last two
// refuse an address of the other family (EAFNOSUPPORT). An IPv4-mapped
// address (::ffff:10.0.0.1) is dialled over IPv4, as Go's net does; a zone
// (fe80::1%eth0) names the interface of a link-local address.
func DialNetwork(ctx context.Context, s *stack.Stack, network string, addr netip.AddrPort) (*Conn, error) {
	opErr := func(local net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: network, Source: local, Addr: net.TCPAddrFromAddrPort(addr), Err: err}
	}
	fam, ok := parseNetwork(network)
	if !ok {
		return nil, opErr(nil, net.UnknownNetworkError(network))
	}
	p, err := protocolOf(s)
	if err != nil {
		return nil, opErr(nil, err)
	}
	dst := addr.Addr().Unmap()
	if !dst.IsValid() || addr.Port() == 0 || dst.IsMulticast() || dst.IsUnspecified() {
		return nil, opErr(nil, stack.ErrInvalid)
	}
	if !fam.allows(dst) {
		return nil, opErr(nil, errAddrFamily)
	}
	r, err := s.FindRoute(dst, netip.Addr{})
	if err != nil {
		return nil, opErr(nil, err)
	}
	if r.Broadcast {
		return nil, opErr(nil, stack.ErrInvalid)
	}
	addr = netip.AddrPortFrom(normalize(dst), addr.Port())
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, opErr(nil, stack.ErrClosed)
	}
	port, err := p.pickEphemeralLocked(netip.AddrPortFrom(r.LocalAddr, 0), addr)
	if err != nil {
		p.mu.Unlock()
		return nil, opErr(nil, err)
	}
	e := newEndpoint(p, tuple{netip.AddrPortFrom(r.LocalAddr, port), addr}, r)
	done := e.startDial()
	p.conns.put(e.id().key(), e)
	p.mu.Unlock()

	now := p.clock.Now()
	e.mu.Lock()
	e.c.connect(now)
	e.c.takeEvents() // CLOSED → SYN_SENT is not traced, the SYN is
	e.afterUser(now)
	e.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		e.mu.Lock()
		if e.c.state.handshaking() {
			e.c.closeWith(ctx.Err())
			e.afterUser(p.clock.Now())
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c.state == StateClosed || e.c.state.handshaking() {
		err := e.c.err
		if err == nil {
			err = stack.ErrConnectionReset
		}
		if e.c.state != StateClosed {
			e.c.abort()
			e.afterUser(p.clock.Now())
		}
		return nil, opErr(e.laddr(), err)
	}
	return &Conn{e: e}, nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.e.laddr(), Addr: c.e.raddr(), Err: err}
}

// deadlinePassed reports whether d is set and has passed.
func deadlinePassed(d time.Time) bool { return !d.IsZero() && !time.Now().Before(d) }

// Read reads received data. It returns io.EOF after the peer's FIN and all
// data before it have been read.
func (c *Conn) Read(b []byte) (int, error) {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		switch {
		case e.userClosed:
			return 0, c.opErr("read", net.ErrClosed)
		case deadlinePassed(e.rdDeadline()):
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		case e.c.readShut:
			return 0, io.EOF
		case e.c.rcv.pinned: // a WriteTo writes from the buffer
		case e.c.rcv.n > 0:
			if len(b) == 0 {
				return 0, nil
			}
			now := e.p.clock.Now()
			n := e.c.read(now, b)
			e.afterIO(now, len(b))
			return n, nil
		case e.c.finRcvd:
			return 0, io.EOF
		case e.c.err != nil:
			return 0, c.opErr("read", e.c.err)
		case e.c.state == StateClosed:
			return 0, io.EOF
		case len(b) == 0:
			return 0, nil
		}
		e.readers++
		e.cond.Wait()
		e.readers--
	}
}

// Write sends b; it blocks while the send buffer is full, or the stack's
// TCP memory budget (Options.MemoryLimit), and returns only when all of b
// is queued or an error (reset, deadline, close) stops it.
func (c *Conn) Write(b []byte) (int, error) {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for {
		switch {
		case e.userClosed:
			return n, c.opErr("write", net.ErrClosed)
		case e.c.err != nil:
			return n, c.opErr("write", e.c.err)
		case e.c.finQueued || e.c.state == StateClosed:
			return n, c.opErr("write", errBrokenPipe)
		case deadlinePassed(e.wrDeadline()):
			return n, c.opErr("write", os.ErrDeadlineExceeded)
		case n == len(b):
			return n, nil
		}
		now := e.p.clock.Now()
		gen := e.p.cfg.mem.freed()
		if k := e.c.write(now, b[n:]); k > 0 {
			n += k
			e.afterIO(now, len(b))
			continue
		}
		if e.c.memBlocked() && e.p.cfg.mem.memWait(e, gen) {
			continue // memory was freed since the write tried
		}
		e.cond.Wait()
	}
}

// Close closes the connection. Queued data is still sent, followed by a
// FIN; if received data was left unread, the peer gets a RST instead (as
// with Linux). Close does not wait for the peer.
func (c *Conn) Close() error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.userClosed {
		return c.opErr("close", net.ErrClosed)
	}
	e.userClosed = true
	if e.rare != nil {
		e.rare.stop()
	}
	now := e.p.clock.Now()
	if e.c.rcv.n > 0 || e.lingerZero {
		e.c.abort()
	} else {
		e.c.close(now)
	}
	e.afterUser(now)
	return nil
}

// CloseWrite shuts down the sending direction: the peer reads EOF after
// the queued data. Reading goes on.
func (c *Conn) CloseWrite() error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.userClosed {
		return c.opErr("close", net.ErrClosed)
	}
	if e.c.state == StateClosed {
		if e.c.err != nil {
			return c.opErr("close", e.c.err)
		}
		return c.opErr("close", stack.ErrNotConnected)
	}
	now := e.p.clock.Now()
	e.c.shutdown(now)
	e.afterUser(now)
	return nil
}

// LocalAddr returns the local address as a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.e.laddr() }

// RemoteAddr returns the peer's address as a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.e.raddr() }

// LocalAddrPort returns the local address.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.e.id().local }

// RemoteAddrPort returns the peer's address.
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.e.id().remote }

// State returns the connection's current TCP state.
func (c *Conn) State() State {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return c.e.c.state
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadline(t, true, true) }

// SetReadDeadline sets the time after which Read fails with an error
// wrapping os.ErrDeadlineExceeded; pending Reads are woken. Deadlines are
// wall-clock times, as for every net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, true, false) }

// SetWriteDeadline is SetReadDeadline for Write.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

// setDeadline sets the read and/or write deadline and wakes the waiters.
func (c *Conn) setDeadline(t time.Time, rd, wr bool) error {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.userClosed {
		return c.opErr("set", net.ErrClosed)
	}
	if e.rare == nil && t.IsZero() {
		return nil
	}
	r := e.takeRare()
	if rd {
		r.rd = t
		r.rdTimer = e.armDeadline(r.rdTimer, t)
	}
	if wr {
		r.wr = t
		r.wrTimer = e.armDeadline(r.wrTimer, t)
	}
	e.cond.Broadcast()
	return nil
}

// armDeadline (re)arms a wall-clock timer that wakes waiters at t.
func (e *endpoint) armDeadline(tm *time.Timer, t time.Time) *time.Timer {
	if tm != nil {
		tm.Stop()
	}
	if t.IsZero() {
		return tm
	}
	d := time.Until(t)
	if d <= 0 {
		return tm
	}
	if tm == nil {
		return time.AfterFunc(d, e.wakeWaiters)
	}
	tm.Reset(d)
	return tm
}

// stop stops both timers (the connection is closed).
func (r *rare) stop() {
	if r.rdTimer != nil {
		r.rdTimer.Stop()
	}
	if r.wrTimer != nil {
		r.wrTimer.Stop()
	}
}

func (e *endpoint) wakeWaiters() {
	if !e.p.enterCB() {
		return
	}
	defer e.p.cbs.Done()
	e.mu.Lock()
	e.cond.Broadcast()
	e.mu.Unlock()
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ net.Listener = (*Listener)(nil)
)
