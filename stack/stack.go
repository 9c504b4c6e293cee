// Package stack is the core of tapstack: the zero-copy Packet and its pool,
// the interfaces every layer plugs into, the Stack with its NICs, route
// table, clock and counters.
//
// A Stack on its own moves nothing; protocol packages register with it
// (ipv4.Register, arp.Register, tcp.Register) and link endpoints are added
// as NICs. Package host wires a complete host in one call.
package stack

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Options configure a Stack.
type Options struct {
	// Clock drives every timer; nil means the wall clock.
	Clock Clock
}

// Stack is one virtual host: its interfaces, protocols, routes and counters.
// Its methods are safe for concurrent use.
type Stack struct {
	clock    Clock
	counters Counters

	mu       sync.Mutex // serialises configuration changes
	nics     atomic.Pointer[[]*NIC]
	netProto atomic.Pointer[[]NetworkProtocol]
	trans    [256]atomic.Pointer[transportSlot]
	resolver atomic.Pointer[resolverSlot]
	ip       atomic.Pointer[ipSlot]
	routes   atomic.Pointer[routeTable]
	closed   bool

	rxUnknownEtherType *Counter
	rxNoProtocol       *Counter
}

type transportSlot struct{ p TransportProtocol }
type resolverSlot struct{ r LinkResolver }
type ipSlot struct{ w IPWriter }

// New returns an empty stack.
func New(opts Options) *Stack {
	s := &Stack{clock: opts.Clock}
	if s.clock == nil {
		s.clock = RealClock{}
	}
	s.nics.Store(&[]*NIC{})
	s.netProto.Store(&[]NetworkProtocol{})
	s.routes.Store(&routeTable{})
	s.rxUnknownEtherType = s.counters.Get("link.rx.unknown_ethertype")
	s.rxNoProtocol = s.counters.Get("ip.rx.unknown_protocol")
	return s
}

// Clock returns the stack's clock.
func (s *Stack) Clock() Clock { return s.clock }

// Counters returns the stack's counter registry.
func (s *Stack) Counters() *Counters { return &s.counters }

// RegisterNetwork adds a network protocol. A protocol that implements
// IPWriter becomes the IP layer transports send through; one that
// implements LinkResolver becomes the resolver NICs use.
func (s *Stack) RegisterNetwork(p NetworkProtocol) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.netProto.Load()
	for _, q := range old {
		if q.EtherType() == p.EtherType() {
			return fmt.Errorf("stack: a protocol for EtherType %#04x is already registered", p.EtherType())
		}
	}
	next := append(append([]NetworkProtocol(nil), old...), p)
	s.netProto.Store(&next)
	if w, ok := p.(IPWriter); ok {
		s.ip.Store(&ipSlot{w})
	}
	if r, ok := p.(LinkResolver); ok {
		s.resolver.Store(&resolverSlot{r})
	}
	return nil
}

// NetworkProtocol returns the protocol registered for an EtherType, or nil.
func (s *Stack) NetworkProtocol(etherType uint16) NetworkProtocol {
	for _, p := range *s.netProto.Load() {
		if p.EtherType() == etherType {
			return p
		}
	}
	return nil
}

// RegisterTransport adds a transport protocol.
func (s *Stack) RegisterTransport(p TransportProtocol) error {
	slot := &s.trans[p.Number()]
	if !slot.CompareAndSwap(nil, &transportSlot{p}) {
		return fmt.Errorf("stack: a transport for IP protocol %d is already registered", p.Number())
	}
	return nil
}

// Transport returns the transport registered for an IP protocol number, or
// nil.
func (s *Stack) Transport(number uint8) TransportProtocol {
	if t := s.trans[number].Load(); t != nil {
		return t.p
	}
	return nil
}

// SetResolver replaces the link resolver NICs use for unicast next hops.
func (s *Stack) SetResolver(r LinkResolver) { s.resolver.Store(&resolverSlot{r}) }

// IP returns the IP layer transports send through, or nil if none is
// registered.
func (s *Stack) IP() IPWriter {
	if w := s.ip.Load(); w != nil {
		return w.w
	}
	return nil
}

// ResolutionFailed hands a packet whose next hop did not answer to the
// network protocol of its EtherType (which answers host unreachable), or
// releases it. It takes ownership of p. Resolvers call it.
func (s *Stack) ResolutionFailed(nic *NIC, nextHop netip.Addr, etherType uint16, p *Packet) {
	if h, ok := s.NetworkProtocol(etherType).(ResolutionFailureHandler); ok {
		h.HandleResolutionFailure(nic, nextHop, p)
		return
	}
	p.Release()
}

// NICs returns the stack's interfaces in the order they were added.
func (s *Stack) NICs() []*NIC { return *s.nics.Load() }

// NIC returns the interface with the given name, or nil.
func (s *Stack) NIC(name string) *NIC {
	for _, n := range s.NICs() {
		if n.name == name {
			return n
		}
	}
	return nil
}

// AddNIC adds an interface on the link endpoint ep and starts receiving.
func (s *Stack) AddNIC(name string, ep LinkEndpoint) (*NIC, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	old := *s.nics.Load()
	for _, n := range old {
		if n.name == name {
			s.mu.Unlock()
			return nil, fmt.Errorf("stack: an interface named %q already exists", name)
		}
	}
	n := &NIC{id: len(old) + 1, name: name, stack: s, ep: ep}
	n.addrs.Store(&[]netip.Prefix{})
	next := append(append([]*NIC(nil), old...), n)
	s.nics.Store(&next)
	s.mu.Unlock()
	ep.Attach(n)
	return n, nil
}

// Close shuts the stack down: transports first (their endpoints close),
// then network protocols, then every link endpoint. It returns when every
// goroutine the stack started has ended.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var errs []error
	for i := range s.trans {
		if t := s.trans[i].Load(); t != nil {
			if c, ok := t.p.(io.Closer); ok {
				errs = append(errs, c.Close())
			}
		}
	}
	for _, p := range *s.netProto.Load() {
		if c, ok := p.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	for _, n := range s.NICs() {
		errs = append(errs, n.ep.Close())
	}
	return errors.Join(errs...)
}
