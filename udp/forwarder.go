package udp

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Defaults of ForwarderOptions.
const (
	// DefaultMaxFlows bounds a Forwarder's flow table (pending and
	// accepted flows together).
	DefaultMaxFlows = 4096
	// DefaultMaxPending bounds the flows waiting for the callback.
	DefaultMaxPending = 256
	// DefaultIdleTimeout is how long a forwarded flow lives without a
	// datagram either way: 30 s, Linux's nf_conntrack_udp_timeout for a
	// flow (the timeout NAT gateways and tun2socks-style proxies apply;
	// Linux keeps "assured" flows that saw replies 120 s, which favours
	// long-lived flows over a table that recovers from a port scan).
	// Applications that need longer keep their flow alive, as QUIC and
	// WireGuard do with keepalives under 30 s.
	DefaultIdleTimeout = 30 * time.Second
)

// ForwarderOptions configure a Forwarder. The zero value gives the
// defaults.
type ForwarderOptions struct {
	// MaxFlows bounds the flow table, pending and accepted flows
	// together; 0 means DefaultMaxFlows. A datagram that would start a
	// flow beyond it is dropped (counter udp.fwd.table_full).
	MaxFlows int
	// MaxPending bounds the flows waiting for the callback's decision
	// (each holds its first datagrams and a goroutine); 0 means
	// DefaultMaxPending. Beyond it a datagram that would start a flow is
	// dropped (counter udp.fwd.pending_full).
	MaxPending int
	// IdleTimeout closes an accepted flow after this long without a
	// datagram in either direction (counter udp.fwd.expired); 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// ForwarderID is a forwarded flow's four-tuple as the client sent it:
// Local is the original destination (usually not one of our addresses),
// Remote the client.
type ForwarderID struct {
	Local, Remote netip.AddrPort
}

// Forwarder takes UDP flows to any address and port that no endpoint takes
// (with the IP layer's "accept any destination" mode,
// ipv4.Protocol.SetAcceptAnyDestination, also to addresses that are not
// ours) and hands each new one to a callback, as gVisor's udp.Forwarder
// does for tun2socks-style proxies. An accepted flow is a connected Conn
// from the original destination to the client; a refused one is answered
// with ICMP port unreachable, as a closed port would be.
type Forwarder struct {
	u       *Protocol
	handler func(*ForwarderRequest)
	opts    ForwarderOptions

	mu      sync.RWMutex
	flows   map[ForwarderID]*flow
	pending int
	closed  bool

	ctrRequests, ctrTableFull, ctrPendingFull *stack.Counter
	ctrAccepted, ctrRefused, ctrExpired       *stack.Counter
}

// flow is one entry of the flow table.
type flow struct {
	f  *Forwarder
	id ForwarderID
	c  *Conn
	// last is when a datagram last passed either way (stack.Nanos
	// of the stack's clock).
	last  atomic.Int64
	timer stack.Timer // accepted flows: the idle check
}

// ForwarderRequest is a new flow waiting for the callback's decision.
// Datagrams of the flow that arrive meanwhile are queued on the flow (up
// to the receive buffer), so an accepted Conn reads them all. A request
// the callback returns from without deciding is refused.
type ForwarderRequest struct {
	fl    *flow
	first *stack.Packet // its network header marked, for the ICMP error

	mu      sync.Mutex
	decided bool
}

var errFlowGone = errors.New("udp: the forwarded flow was already decided or closed")

// NewForwarder installs a forwarder on the UDP protocol of s, replacing
// any earlier one, and returns it. handler runs in its own goroutine for
// each new flow (at most opts.MaxPending at once) and must call Accept or
// Refuse. Endpoints keep their datagrams: a datagram goes to the
// forwarder only when it is unicast and no endpoint takes it (wildcard
// endpoints take only the stack's own addresses).
func NewForwarder(s *stack.Stack, opts ForwarderOptions, handler func(*ForwarderRequest)) (*Forwarder, error) {
	u, err := protocolOf(s)
	if err != nil {
		return nil, err
	}
	if opts.MaxFlows <= 0 {
		opts.MaxFlows = DefaultMaxFlows
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	c := s.Counters()
	f := &Forwarder{
		u:              u,
		handler:        handler,
		opts:           opts,
		flows:          make(map[ForwarderID]*flow),
		ctrRequests:    c.Get("udp.fwd.requests"),
		ctrTableFull:   c.Get("udp.fwd.table_full"),
		ctrPendingFull: c.Get("udp.fwd.pending_full"),
		ctrAccepted:    c.Get("udp.fwd.accepted"),
		ctrRefused:     c.Get("udp.fwd.refused"),
		ctrExpired:     c.Get("udp.fwd.expired"),
	}
	if old := u.fwd.Swap(f); old != nil {
		old.Close()
	}
	return f, nil
}

// Close uninstalls the forwarder and closes its flows: their Conns'
// reads return net.ErrClosed.
func (f *Forwarder) Close() error {
	f.u.fwd.CompareAndSwap(f, nil)
	f.mu.Lock()
	f.closed = true
	all := make([]*flow, 0, len(f.flows))
	for _, fl := range f.flows {
		all = append(all, fl)
	}
	f.mu.Unlock()
	for _, fl := range all {
		fl.c.Close()
	}
	return nil
}

// Flows returns the number of flows in the table, pending and accepted.
func (f *Forwarder) Flows() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.flows)
}

// Pending returns the number of flows waiting for the callback.
func (f *Forwarder) Pending() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.pending
}

// handle takes ownership of p, a validated unicast datagram (data at the
// UDP header h) from src to dst that no endpoint takes.
func (f *Forwarder) handle(p *stack.Packet, h Header, src, dst netip.AddrPort) {
	id := ForwarderID{Local: dst, Remote: src}
	now := stack.Nanos(f.u.s.Clock().Now())
	f.mu.RLock()
	fl := f.flows[id]
	f.mu.RUnlock()
	var req *ForwarderRequest
	if fl == nil {
		if fl, req = f.newFlow(id, p); fl == nil {
			p.Release()
			return
		}
	}
	fl.last.Store(now)
	p.Trim(int(h.Length()))
	p.MarkTransportHeader()
	p.Pull(HeaderLen)
	fl.c.enqueue(p, src, false)
	if req != nil {
		// Only now: the callback may refuse, which reads the packet.
		go f.run(req)
	}
}

// newFlow adds a flow for id, whose first datagram is p, within the
// bounds; it returns the flow (an existing one if another goroutine made
// it first) and, for a new one, its request. It returns nil when the
// table or the pending count is full (counted).
func (f *Forwarder) newFlow(id ForwarderID, p *stack.Packet) (*flow, *ForwarderRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.flows[id]; fl != nil {
		return fl, nil
	}
	switch {
	case f.closed:
		return nil, nil
	case len(f.flows) >= f.opts.MaxFlows:
		f.ctrTableFull.Inc()
		return nil, nil
	case f.pending >= f.opts.MaxPending:
		f.ctrPendingFull.Inc()
		return nil, nil
	}
	c := newConn(f.u, "udp", id.Local)
	c.remote = id.Remote
	fl := &flow{f: f, id: id, c: c}
	c.flow = fl
	f.flows[id] = fl
	f.pending++
	f.ctrRequests.Inc()
	p.Ref() // the request keeps the first datagram for a refusal
	return fl, &ForwarderRequest{fl: fl, first: p}
}

// remove takes fl out of the table (Conn.Close of a forwarded flow).
func (f *Forwarder) remove(fl *flow) {
	f.mu.Lock()
	if f.flows[fl.id] == fl {
		delete(f.flows, fl.id)
	}
	f.mu.Unlock()
	if fl.timer != nil {
		fl.timer.Stop()
	}
}

func (f *Forwarder) run(r *ForwarderRequest) {
	defer r.Refuse() // a no-op once decided
	f.handler(r)
}

// ID returns the flow's four-tuple: Local is the original destination,
// Remote the client.
func (r *ForwarderRequest) ID() ForwarderID { return r.fl.id }

// decide marks r decided; it reports false when r already was.
func (r *ForwarderRequest) decide() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.decided {
		return false
	}
	r.decided = true
	return true
}

// done releases the first datagram, then the pending slot: once Pending
// reports 0, no request holds a packet.
func (r *ForwarderRequest) done() {
	r.first.Release()
	f := r.fl.f
	f.mu.Lock()
	f.pending--
	f.mu.Unlock()
}

// Accept makes the flow a connected Conn from the original destination
// (its LocalAddr) to the client: it reads the flow's datagrams, the first
// one included, and its writes leave from the original destination. The
// flow closes after ForwarderOptions.IdleTimeout without traffic; reads
// then return net.ErrClosed. Accepting a decided request fails.
func (r *ForwarderRequest) Accept() (*Conn, error) {
	if !r.decide() {
		return nil, errFlowGone
	}
	defer r.done()
	fl := r.fl
	f := fl.f
	route, err := f.route(fl.id)
	if err != nil {
		fl.c.Close()
		return nil, err
	}
	fl.c.route = &route
	f.mu.Lock()
	if f.flows[fl.id] != fl {
		f.mu.Unlock()
		fl.c.Close()
		return nil, errFlowGone
	}
	fl.timer = f.u.s.Clock().AfterFunc(f.opts.IdleTimeout, fl.checkIdle)
	f.mu.Unlock()
	f.ctrAccepted.Inc()
	return fl.c, nil
}

// Refuse drops the flow's datagrams and answers the first with ICMP port
// unreachable, as a closed port would. Refusing a decided request does
// nothing.
func (r *ForwarderRequest) Refuse() {
	if !r.decide() {
		return
	}
	fl := r.fl
	fl.c.Close()
	fl.f.ctrRefused.Inc()
	et := stack.EtherTypeIPv4
	if fl.id.Local.Addr().Is6() {
		et = stack.EtherTypeIPv6
	}
	if s, ok := fl.f.u.s.NetworkProtocol(et).(interface{ SendPortUnreachable(*stack.Packet) }); ok {
		s.SendPortUnreachable(r.first)
	}
	r.done()
}

// route returns the route for the flow's datagrams to the client, from the
// original destination (ours or not: the route only chooses interface and
// next hop).
func (f *Forwarder) route(id ForwarderID) (stack.Route, error) {
	s := f.u.s
	if s.IsLocalAddress(id.Local.Addr()) {
		return s.FindRoute(id.Remote.Addr(), id.Local.Addr())
	}
	r, err := s.FindRoute(id.Remote.Addr(), netip.Addr{})
	if err != nil {
		return r, err
	}
	r.LocalAddr = id.Local.Addr()
	return r, nil
}

// checkIdle closes the flow when it has been idle for IdleTimeout, or
// re-arms its timer for the rest.
func (fl *flow) checkIdle() {
	f := fl.f
	idle := f.opts.IdleTimeout
	left := time.Duration(fl.last.Load()+int64(idle)) - time.Duration(stack.Nanos(f.u.s.Clock().Now()))
	if left > 0 {
		f.mu.Lock()
		if f.flows[fl.id] == fl {
			fl.timer.Reset(left)
		}
		f.mu.Unlock()
		return
	}
	f.ctrExpired.Inc()
	fl.c.Close()
}

// touch records traffic on a forwarded flow (Conn.Write).
func (fl *flow) touch() { fl.last.Store(stack.Nanos(fl.f.u.s.Clock().Now())) }
