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
	batchers atomic.Pointer[[]BatchEnder]    // the transports that are BatchEnders
	resolver [2]atomic.Pointer[resolverSlot] // by family: IPv4, IPv6
	ip       [2]atomic.Pointer[ipSlot]       // by family: IPv4, IPv6
	icmpv6   [256]atomic.Pointer[icmpv6Slot]
	observe  atomic.Pointer[[]any]
	routes   atomic.Pointer[routeTable]
	tracer   atomic.Pointer[tracerSlot]
	closed   bool

	rxUnknownEtherType *Counter
	rxNoProtocol       *Counter
}

type transportSlot struct{ p TransportProtocol }
type resolverSlot struct{ r LinkResolver }
type ipSlot struct{ w IPWriter }
type icmpv6Slot struct{ h ICMPv6Handler }

// family is the index of an address's family in per-family tables.
func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// familyOf is the index of an IP EtherType's family.
func familyOf(etherType uint16) int {
	if etherType == EtherTypeIPv6 {
		return 1
	}
	return 0
}

// New returns an empty stack.
func New(opts Options) *Stack {
	s := &Stack{clock: opts.Clock}
	s.counters.hub = &s.tracer
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
// IPWriter becomes the IP layer transports send through for its family
// (EtherTypeIPv4 or EtherTypeIPv6); one that implements LinkResolver (ARP)
// becomes the resolver NICs use for IPv4 next hops.
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
		s.ip[familyOf(p.EtherType())].Store(&ipSlot{w})
	}
	if r, ok := p.(LinkResolver); ok {
		s.resolver[0].Store(&resolverSlot{r})
	}
	return nil
}

// AddObserver registers o for the notifications whose interfaces it
// implements: AddressObserver, AddressRemovalObserver, GroupObserver.
// Network protocols are notified without registering.
func (s *Stack) AddObserver(o any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []any
	if p := s.observe.Load(); p != nil {
		old = *p
	}
	next := append(append([]any(nil), old...), o)
	s.observe.Store(&next)
}

// observers returns the registered network protocols and observers.
func (s *Stack) observers() []any {
	var out []any
	for _, p := range *s.netProto.Load() {
		out = append(out, p)
	}
	if p := s.observe.Load(); p != nil {
		out = append(out, *p...)
	}
	return out
}

// SetICMPv6Handler makes h the handler of inbound ICMPv6 messages of type
// typ (Neighbour Discovery registers 133 to 137, MLD 130 and 143). The IPv6
// layer keeps echo and errors for itself.
func (s *Stack) SetICMPv6Handler(typ uint8, h ICMPv6Handler) {
	s.icmpv6[typ].Store(&icmpv6Slot{h})
}

// ICMPv6Handler returns the handler registered for ICMPv6 type typ, or nil.
func (s *Stack) ICMPv6Handler(typ uint8) ICMPv6Handler {
	if h := s.icmpv6[typ].Load(); h != nil {
		return h.h
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
	if b, ok := p.(BatchEnder); ok {
		s.mu.Lock()
		var bs []BatchEnder
		if old := s.batchers.Load(); old != nil {
			bs = append(bs, *old...)
		}
		bs = append(bs, b)
		s.batchers.Store(&bs)
		s.mu.Unlock()
	}
	return nil
}

// EndBatch ends a device's batch of inbound packets (see BatchEnder): it
// calls EndBatch of every transport that implements BatchEnder and
// reports whether any of them sent packets.
func (s *Stack) EndBatch() bool {
	sent := false
	if bs := s.batchers.Load(); bs != nil {
		for _, b := range *bs {
			if b.EndBatch() {
				sent = true
			}
		}
	}
	return sent
}

// Transport returns the transport registered for an IP protocol number, or
// nil.
func (s *Stack) Transport(number uint8) TransportProtocol {
	if t := s.trans[number].Load(); t != nil {
		return t.p
	}
	return nil
}

// SetResolver replaces the link resolver NICs use for unicast next hops of
// the family of etherType (EtherTypeIPv4: ARP; EtherTypeIPv6: Neighbour
// Discovery).
func (s *Stack) SetResolver(etherType uint16, r LinkResolver) {
	s.resolver[familyOf(etherType)].Store(&resolverSlot{r})
}

// IP returns the IP layer transports send through for the family of
// etherType (EtherTypeIPv4 or EtherTypeIPv6), or nil if none is registered.
func (s *Stack) IP(etherType uint16) IPWriter {
	if w := s.ip[familyOf(etherType)].Load(); w != nil {
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
	n := &NIC{id: len(old) + 1, name: name, stack: s, ep: ep, l3: IsL3(ep)}
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
