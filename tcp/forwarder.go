package tcp

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/tapstack/tapstack/stack"
)

// DefaultMaxPending is the default bound on a Forwarder's pending flows:
// SYNs whose callback has not decided yet (Linux's tcp_max_syn_backlog
// default for a small host).
const DefaultMaxPending = 1024

// ForwarderOptions configure a Forwarder.
type ForwarderOptions struct {
	// MaxPending bounds the flows waiting for the callback's decision;
	// 0 means DefaultMaxPending. Beyond it new SYNs are dropped (counter
	// tcp.fwd.pending_full) and the client retransmits them.
	MaxPending int
}

// ForwarderID is the four-tuple of a forwarded connection as the client
// sent it: Local is the address and port the client connected to (the
// original destination, usually not ours), Remote the client's.
type ForwarderID struct {
	Local, Remote netip.AddrPort
}

// Forwarder takes TCP connections to any address and port that no
// listener takes (with the IP layer's "accept any destination" mode,
// ipv4.Protocol.SetAcceptAnyDestination, also to addresses that are not
// ours) and hands each to a callback, as gVisor's tcp.Forwarder does for
// tun2socks-style proxies. The handshake completes only when the callback
// accepts, so a proxy can first connect to the real destination and
// refuse (RST, as a closed port) when that fails.
type Forwarder struct {
	p       *Protocol
	handler func(*ForwarderRequest)
	max     int

	mu      sync.Mutex
	pending map[tuple]*ForwarderRequest
	closed  bool

	ctrRequests, ctrFull, ctrDuplicate *stack.Counter
	ctrAccepted, ctrRefused            *stack.Counter
}

// ForwarderRequest is one connection attempt (a SYN) waiting for the
// callback's decision: Accept or Refuse. A request the callback returns
// from without deciding is refused.
type ForwarderRequest struct {
	f   *Forwarder
	id  tuple
	syn segment // the SYN, without payload

	mu      sync.Mutex
	decided bool
}

var errForwarderDecided = errors.New("tcp: forwarder request already accepted or refused")

// NewForwarder installs a forwarder on the TCP protocol of s, replacing
// any earlier one, and returns it. handler runs in its own goroutine for
// each new connection attempt (at most opts.MaxPending at once) and must
// call Accept or Refuse. Listeners keep their connections: a SYN goes to
// the forwarder only when no listener on the destination address takes
// it (wildcard listeners take only the stack's own addresses).
func NewForwarder(s *stack.Stack, opts ForwarderOptions, handler func(*ForwarderRequest)) (*Forwarder, error) {
	p, err := protocolOf(s)
	if err != nil {
		return nil, err
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	c := s.Counters()
	f := &Forwarder{
		p:            p,
		handler:      handler,
		max:          opts.MaxPending,
		pending:      make(map[tuple]*ForwarderRequest),
		ctrRequests:  c.Get("tcp.fwd.requests"),
		ctrFull:      c.Get("tcp.fwd.pending_full"),
		ctrDuplicate: c.Get("tcp.fwd.syn_duplicate"),
		ctrAccepted:  c.Get("tcp.fwd.accepted"),
		ctrRefused:   c.Get("tcp.fwd.refused"),
	}
	p.fwd.Store(f)
	return f, nil
}

// Close uninstalls the forwarder: later SYNs that no listener takes are
// answered with RST again. Requests already handed to the callback can
// still be accepted or refused.
func (f *Forwarder) Close() error {
	f.p.fwd.CompareAndSwap(f, nil)
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// Pending returns the number of requests waiting for a decision.
func (f *Forwarder) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// handleSyn takes a SYN for t, which no connection or listener takes.
func (f *Forwarder) handleSyn(t tuple, seg *segment) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.p.sendReset(t, seg)
		return
	}
	if _, ok := f.pending[t]; ok {
		// A retransmitted SYN while the callback decides.
		f.mu.Unlock()
		f.ctrDuplicate.Inc()
		return
	}
	f.p.mu.RLock()
	e := f.p.conns.get(t.key())
	f.p.mu.RUnlock()
	if e != nil {
		// Accepted between HandlePacket's lookup and now.
		f.mu.Unlock()
		e.deliver(seg, nil)
		return
	}
	if len(f.pending) >= f.max {
		f.mu.Unlock()
		f.ctrFull.Inc()
		return
	}
	r := &ForwarderRequest{f: f, id: t, syn: *seg}
	r.syn.payload = nil
	f.pending[t] = r
	f.mu.Unlock()
	f.ctrRequests.Inc()
	go f.run(r)
}

func (f *Forwarder) run(r *ForwarderRequest) {
	defer r.Refuse() // a no-op once decided
	f.handler(r)
}

// ID returns the connection's four-tuple: Local is the original
// destination, Remote the client.
func (r *ForwarderRequest) ID() ForwarderID {
	return ForwarderID{Local: r.id.local, Remote: r.id.remote}
}

// decide marks r decided and frees its slot; it reports false when it
// already was.
func (r *ForwarderRequest) decide() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.decided {
		return false
	}
	r.decided = true
	return true
}

func (f *Forwarder) release(r *ForwarderRequest) {
	f.mu.Lock()
	if f.pending[r.id] == r {
		delete(f.pending, r.id)
	}
	f.mu.Unlock()
}

// Refuse answers the SYN with RST, as a closed port does: the client's
// connect fails with "connection refused". Refusing a decided request does
// nothing.
func (r *ForwarderRequest) Refuse() {
	if !r.decide() {
		return
	}
	f := r.f
	f.release(r)
	f.ctrRefused.Inc()
	f.p.sendReset(r.id, &r.syn)
}

// Accept completes the handshake (SYN-ACK, then the client's ACK) and
// returns the connection, whose LocalAddr is the original destination. It
// waits for the client's ACK; if the client never answers, it fails after
// the SYN-ACK retransmissions (Options.SynAckRetries), as a listener's
// half-open connection would. Accepting a decided request fails.
func (r *ForwarderRequest) Accept() (*Conn, error) {
	if !r.decide() {
		return nil, errForwarderDecided
	}
	f := r.f
	p := f.p
	defer f.release(r)
	route, err := p.replyRoute(r.id)
	if err != nil {
		return nil, err
	}
	e := newEndpoint(p, r.id, route)
	done := e.startDial()
	now := p.clock.Now()
	e.mu.Lock()
	e.c.acceptSyn(now, &r.syn)
	e.c.takeEvents() // the handshake ends from SYN_RECEIVED
	if err := p.addConn(e); err != nil {
		e.dropQueued()
		e.mu.Unlock()
		return nil, err
	}
	f.release(r) // retransmitted SYNs now reach the connection
	f.ctrAccepted.Inc()
	e.afterCore(now)
	e.mu.Unlock()
	<-done
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c.state == StateClosed || e.c.state.handshaking() {
		err := e.c.err
		if err == nil {
			err = stack.ErrConnectionReset
		}
		return nil, err
	}
	return &Conn{e: e}, nil
}

// replyRoute returns the route for segments of connection t: from t's
// local address when it is ours; otherwise, with a forwarder installed,
// from the original destination the client used (the route only chooses
// interface and next hop).
func (p *Protocol) replyRoute(t tuple) (stack.Route, error) {
	local := t.local.Addr()
	if p.fwd.Load() == nil || p.s.IsLocalAddress(local) {
		return p.s.FindRoute(t.remote.Addr(), local)
	}
	r, err := p.s.FindRoute(t.remote.Addr(), netip.Addr{})
	if err != nil {
		return r, err
	}
	r.LocalAddr = local
	return r, nil
}

// forwarder returns the installed Forwarder, or nil.
func (p *Protocol) forwarder() *Forwarder { return p.fwd.Load() }
