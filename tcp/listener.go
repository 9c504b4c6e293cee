package tcp

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// Listener accepts TCP connections on one address and port; the address
// may be 0.0.0.0 to accept on every local IPv4 address, or :: to accept
// on every local IPv6 address and, unless the listener is IPv6-only, on
// every IPv4 one too (dual-stack). It implements net.Listener.
type Listener struct {
	p       *Protocol
	addr    netip.AddrPort
	tcpAddr *net.TCPAddr
	// v6only says a listener on :: takes no IPv4 connections ("tcp6").
	v6only bool
	// network is "tcp", "tcp4" or "tcp6", for errors.
	network string

	acceptq chan *endpoint
	done    chan struct{}
	// pending counts half-open connections (SYN_RECEIVED).
	pending atomic.Int32
	// lastCookie is when the last SYN cookie was sent (config.nanos).
	lastCookie atomic.Int64

	mu     sync.Mutex
	closed bool

	dl acceptDeadline // SetDeadline (listener_deadline.go)
}

// Listen starts listening on addr on the stack's TCP protocol; it is
// ListenNetwork with network "tcp". The zero Addr or :: (":80", "[::]:80")
// listens on every local address of both families, 0.0.0.0 on every IPv4
// one; port 0 picks an ephemeral port.
func Listen(s *stack.Stack, addr netip.AddrPort) (*Listener, error) {
	return ListenNetwork(s, "tcp", addr)
}

// ListenNetwork starts listening on addr for network "tcp", "tcp4" or
// "tcp6", following Go's net.Listen on Linux for the wildcard: under
// "tcp" the zero Addr and :: make a dual-stack listener, which takes IPv4
// connections too (their addresses are plain IPv4 ones); "tcp6" makes it
// IPv6-only, "tcp4" (or the address 0.0.0.0) listens on IPv4 only. A
// specific address must be one of the stack's, of a family the network
// allows; an IPv4-mapped address (::ffff:10.0.0.2) is its IPv4 address.
// A host's Listen(network, "host:port") parses the string and calls this,
// with the zero Addr for an empty host.
func ListenNetwork(s *stack.Stack, network string, addr netip.AddrPort) (*Listener, error) {
	opErr := func(err error) error {
		var a net.Addr
		if addr.Addr().IsValid() {
			a = net.TCPAddrFromAddrPort(addr)
		}
		return &net.OpError{Op: "listen", Net: network, Addr: a, Err: err}
	}
	fam, ok := parseNetwork(network)
	if !ok {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	p, err := protocolOf(s)
	if err != nil {
		return nil, opErr(err)
	}
	a, v6only, err := listenAddr(fam, addr.Addr())
	if err != nil {
		return nil, opErr(err)
	}
	if !a.IsUnspecified() && !s.IsLocalAddress(a) {
		return nil, opErr(stack.ErrAddressNotLocal)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, opErr(stack.ErrClosed)
	}
	port := addr.Port()
	if port == 0 {
		found := false
		for range 64 {
			port, err = p.pickEphemeralLocked(netip.AddrPortFrom(a, 0), netip.AddrPort{})
			if err != nil {
				return nil, opErr(err)
			}
			if !p.listenConflictLocked(a, v6only, port) {
				found = true
				break
			}
		}
		if !found {
			return nil, opErr(errNoPorts)
		}
	} else if p.listenConflictLocked(a, v6only, port) {
		return nil, opErr(stack.ErrAddressInUse)
	}
	l := &Listener{
		p:       p,
		addr:    netip.AddrPortFrom(a, port),
		acceptq: make(chan *endpoint, p.backlog),
		done:    make(chan struct{}),
		v6only:  v6only,
		network: network,
	}
	l.tcpAddr = net.TCPAddrFromAddrPort(l.addr)
	p.listeners[l.addr] = l
	return l, nil
}

// listenConflictLocked reports whether a listener on (a, port) would clash
// with an existing one: same port, a family both take, and the same
// address or a wildcard (as Linux: 0.0.0.0:80 and an IPv6-only [::]:80
// coexist, a dual-stack [::]:80 clashes with any listener on port 80).
func (p *Protocol) listenConflictLocked(a netip.Addr, v6only bool, port uint16) bool {
	fa := covers(a, v6only)
	for k, l := range p.listeners {
		if k.Port() != port || covers(k.Addr(), l.v6only)&fa == 0 {
			continue
		}
		if k.Addr() == a || k.Addr().IsUnspecified() || a.IsUnspecified() {
			return true
		}
	}
	return false
}

// Addr returns the listening address as a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.tcpAddr }

// AddrPort returns the listening address.
func (l *Listener) AddrPort() netip.AddrPort { return l.addr }

// Accept waits for the next connection. After Close it returns an error
// wrapping net.ErrClosed; after the deadline (SetDeadline) one wrapping
// os.ErrDeadlineExceeded.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err // an untyped nil: not a nil *Conn in a net.Conn
	}
	return c, nil
}

// AcceptTCP is Accept returning the concrete *Conn.
func (l *Listener) AcceptTCP() (*Conn, error) { return l.accept() }

// Close stops listening, wakes Accept, and resets connections that were
// not accepted yet.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: l.network, Addr: l.tcpAddr, Err: net.ErrClosed}
	}
	l.closed = true
	close(l.done)
	var drop []*endpoint
	for {
		select {
		case e := <-l.acceptq:
			drop = append(drop, e)
			continue
		default:
		}
		break
	}
	l.mu.Unlock()
	p := l.p
	p.mu.Lock()
	if p.listeners[l.addr] == l {
		delete(p.listeners, l.addr)
	}
	p.mu.Unlock()
	now := p.clock.Now()
	for _, e := range drop {
		e.mu.Lock()
		e.abortLocked(now)
		e.mu.Unlock()
	}
	return nil
}

// full reports whether the accept queue has no room.
func (l *Listener) full() bool { return len(l.acceptq) >= cap(l.acceptq) }

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// enqueue hands an established connection to Accept; called with e.mu held.
func (l *Listener) enqueue(e *endpoint) {
	if e.queued {
		return
	}
	e.queued = true
	l.pending.Add(-1)
	l.mu.Lock()
	ok := false
	if !l.closed {
		select {
		case l.acceptq <- e:
			ok = true
		default:
			l.p.ctr.listenOverflow.Inc()
		}
	}
	l.mu.Unlock()
	if !ok {
		e.c.abort()
	}
}

// handleSegment processes a segment for which no connection exists (RFC
// 9293 3.10.7.2, LISTEN state).
func (l *Listener) handleSegment(t tuple, seg *segment) {
	p := l.p
	switch {
	case seg.has(FlagRST):
		return
	case seg.has(FlagACK) && !seg.has(FlagSYN):
		if p.cfg.synCookies && !l.isClosed() && l.acceptCookie(t, seg) {
			return
		}
		p.sendReset(t, seg)
		return
	case seg.has(FlagACK):
		p.sendReset(t, seg)
		return
	case !seg.has(FlagSYN):
		return
	}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		p.sendReset(t, seg)
		return
	}
	if len(l.acceptq) >= cap(l.acceptq) {
		p.ctr.listenOverflow.Inc()
		return // the peer retransmits its SYN
	}
	if int(l.pending.Load()) >= p.cfg.synBacklog {
		if p.cfg.synCookies {
			l.sendCookie(t, seg)
			return
		}
		p.ctr.listenOverflow.Inc()
		return
	}
	r, err := p.s.FindRoute(t.remote.Addr(), t.local.Addr())
	if err != nil || r.Broadcast {
		return
	}
	e := newEndpoint(p, t, r)
	e.listener = l
	now := p.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.c.acceptSyn(now, seg)
	e.c.takeEvents() // LISTEN → SYN_RECEIVED is traced by the listener (traceListen)
	if err := p.addConn(e); err != nil {
		e.dropQueued()
		return
	}
	l.pending.Add(1)
	e.afterCore(now)
}
