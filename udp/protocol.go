// Package udp is tapstack's User Datagram Protocol (RFC 768): the wire
// format, the demultiplexer that hands inbound datagrams to endpoints, and
// Conn, an endpoint with the face of net.PacketConn (Listen) or net.Conn
// (Dial).
//
// Register the protocol on a stack once, next to ipv4:
//
//	p, err := udp.Register(s, udp.Options{})
//	c, err := udp.Listen(s, netip.MustParseAddrPort("0.0.0.0:53"))
//
// Inbound, a datagram is validated, its checksum verified (unless the device
// did), and the packet itself is queued on the endpoint with its data
// starting at the payload; ReadFrom copies it into the caller's buffer, the
// one copy on the way in. Outbound, WriteTo copies the caller's buffer into a
// pooled packet behind Headroom, the one copy on the way out. Neither path
// allocates in steady state.
package udp

import (
	"cmp"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// DefaultReceiveBuffer is the default receive queue limit of an endpoint in
// bytes, Linux's rmem_default (208 KiB).
const DefaultReceiveBuffer = 212992

// Ephemeral port range, Linux's net.ipv4.ip_local_port_range default.
const (
	EphemeralFirst = 32768
	EphemeralLast  = 60999
)

// datagramOverhead is what a queued datagram costs beyond its payload in the
// receive-queue accounting, standing for the packet's bookkeeping (Linux
// charges skb truesize the same way). It bounds the number of queued
// datagrams when they are tiny.
const datagramOverhead = 512

// Options configure the UDP protocol of a stack. The zero value gives
// Linux-like defaults.
type Options struct {
	// ReceiveBuffer is each endpoint's receive queue limit in bytes (payload
	// plus a fixed per-datagram overhead); zero means DefaultReceiveBuffer.
	// Conn.SetReadBuffer changes it per endpoint.
	ReceiveBuffer int
}

// Protocol is the UDP transport of one stack. It implements
// stack.TransportProtocol and io.Closer; Stack.Close closes it, which closes
// every endpoint.
type Protocol struct {
	s    *stack.Stack
	opts Options

	// fwd is the installed Forwarder, if any (forwarder.go).
	fwd atomic.Pointer[Forwarder]

	mu     sync.RWMutex
	ports  map[uint16][]*Conn // copy-on-write slices, read under RLock
	closed bool

	rxMalformed   *stack.Counter
	rxBadChecksum *stack.Counter
	// rxZeroChecksum6 counts IPv6 datagrams without a checksum.
	rxZeroChecksum6 *stack.Counter
	rxQueueFull     *stack.Counter
	rxNoPort        *stack.Counter
	rxDelivered     *stack.Counter
	txDatagrams     *stack.Counter
	txErrors        *stack.Counter
}

var (
	_ stack.TransportProtocol = (*Protocol)(nil)
	_ io.Closer               = (*Protocol)(nil)
)

// Register creates the UDP protocol and registers it with s as the
// transport for IP protocol 17.
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	if opts.ReceiveBuffer <= 0 {
		opts.ReceiveBuffer = DefaultReceiveBuffer
	}
	c := s.Counters()
	p := &Protocol{
		s:             s,
		opts:          opts,
		ports:         make(map[uint16][]*Conn),
		rxMalformed:   c.Get("udp.rx.malformed"),
		rxBadChecksum: c.Get("udp.rx.bad_checksum"),
		// udp.rx.zero_checksum6: IPv6 datagrams with a zero checksum
		// field, which RFC 8200 section 8.1 makes invalid.
		rxZeroChecksum6: c.Get("udp.rx.zero_checksum6"),
		rxQueueFull:     c.Get("udp.rx.queue_full"),
		rxNoPort:        c.Get("udp.rx.no_port"),
		rxDelivered:     c.Get("udp.rx.delivered"),
		txDatagrams:     c.Get("udp.tx.datagrams"),
		txErrors:        c.Get("udp.tx.errors"),
	}
	if err := s.RegisterTransport(p); err != nil {
		return nil, err
	}
	return p, nil
}

// protocolOf returns the UDP protocol registered on s.
func protocolOf(s *stack.Stack) (*Protocol, error) {
	if p, ok := s.Transport(stack.ProtocolUDP).(*Protocol); ok {
		return p, nil
	}
	return nil, stack.ErrNoProtocol
}

// Number returns 17.
func (*Protocol) Number() uint8 { return stack.ProtocolUDP }

// HandlePacket processes an inbound datagram whose data starts at the UDP
// header, with p.NIC, p.Src and p.Dst set. It returns false, leaving p with
// the caller, only when no endpoint is bound to the destination of a
// unicast datagram, so that the IP layer answers port unreachable.
// Otherwise it takes ownership: malformed datagrams and bad checksums are
// counted and dropped.
func (u *Protocol) HandlePacket(p *stack.Packet) bool {
	h := Header(p.Bytes())
	if h.Validate() != nil {
		u.rxMalformed.Inc()
		p.Release()
		return true
	}
	if h.Checksum() == 0 && p.Dst.Is6() {
		// RFC 8200 section 8.1: a zero checksum is invalid over IPv6.
		u.rxZeroChecksum6.Inc()
		p.Release()
		return true
	}
	if !p.ChecksumOK && !h.VerifyChecksum(p.Src, p.Dst) {
		u.rxBadChecksum.Inc()
		p.Release()
		return true
	}
	src := netip.AddrPortFrom(p.Src.WithZone(""), h.SrcPort())
	dst := netip.AddrPortFrom(p.Dst.WithZone(""), h.DstPort())

	multi := p.Dst.IsMulticast() || (p.NIC != nil && p.NIC.IsBroadcast(p.Dst))
	u.mu.RLock()
	eps := u.ports[dst.Port()]
	u.mu.RUnlock()

	if multi {
		// Every endpoint bound to the wildcard or to the group or broadcast
		// address itself gets a reference to the same packet.
		n := 0
		for _, e := range eps {
			if e.matchesMulti(src, dst) {
				n++
			}
		}
		if n == 0 {
			u.rxNoPort.Inc()
			p.Release()
			return true // never port unreachable for broadcast
		}
		p.Trim(int(h.Length()))
		p.MarkTransportHeader()
		p.Pull(HeaderLen)
		for i := 1; i < n; i++ {
			p.Ref()
		}
		for _, e := range eps {
			if e.matchesMulti(src, dst) {
				e.enqueue(p, src, true)
			}
		}
		return true
	}

	var best *Conn
	bestScore := 0
	for _, e := range eps {
		if s := e.score(src, dst); s > bestScore {
			best, bestScore = e, s
		}
	}
	if fwd := u.fwd.Load(); fwd != nil && (best == nil || !u.s.IsLocalAddress(dst.Addr())) {
		// Wildcard endpoints take only our own addresses when a
		// forwarder takes the others.
		fwd.handle(p, h, src, dst)
		return true
	}
	if best == nil {
		u.rxNoPort.Inc()
		return false
	}
	p.Trim(int(h.Length()))
	p.MarkTransportHeader()
	p.Pull(HeaderLen)
	best.enqueue(p, src, false)
	return true
}

// HandleError delivers an ICMP error about a datagram we sent. Like Linux
// without IP_RECVERR, only a connected endpoint whose 4-tuple matches the
// quoted datagram hears of it, and only of hard errors (port or protocol
// unreachable, fragmentation needed, administratively prohibited): its next
// Read or Write returns the error once.
func (u *Protocol) HandleError(te stack.TransportError) {
	if len(te.Transport) < 4 {
		return
	}
	err := softError(te)
	if err == nil {
		return
	}
	h := Header(te.Transport)
	local := netip.AddrPortFrom(te.Src.WithZone(""), h.SrcPort())
	remote := netip.AddrPortFrom(te.Dst.WithZone(""), h.DstPort())
	u.mu.RLock()
	eps := u.ports[local.Port()]
	u.mu.RUnlock()
	for _, e := range eps {
		if e.remote.IsValid() && e.remote == remote && e.local.Addr() == local.Addr() {
			e.setError(err)
			return
		}
	}
}

// softError maps an ICMP error to the errno Linux reports on a connected UDP
// socket, or nil for errors Linux does not report there.
func softError(te stack.TransportError) error {
	switch te.Kind {
	case stack.ErrorPortUnreachable:
		return stack.ErrConnectionRefused
	case stack.ErrorProtocolUnreachable:
		return errProtocolUnreachable
	case stack.ErrorFragmentationNeeded:
		return stack.ErrMessageTooLong
	case stack.ErrorAdministrativelyProhibited:
		if te.Code == 9 || te.Code == 10 { // net/host administratively prohibited
			return stack.ErrConnectionRefused
		}
		return stack.ErrHostUnreachable
	}
	return nil
}

// bind registers e under its local address, choosing an ephemeral port when
// the port is 0. It fails with ErrAddressInUse when another endpoint of a
// family e takes holds the same address and port or a wildcard on that
// port (or e is a wildcard and the port is taken at all in its families):
// as on Linux, 0.0.0.0:53 and an IPv6-only [::]:53 coexist, a dual-stack
// [::]:53 clashes with every endpoint on port 53.
func (u *Protocol) bind(e *Conn) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return stack.ErrClosed
	}
	if e.local.Port() == 0 {
		const n = EphemeralLast - EphemeralFirst + 1
		start := rand.IntN(n)
		for i := 0; i < n; i++ {
			port := uint16(EphemeralFirst + (start+i)%n)
			if len(u.ports[port]) == 0 {
				e.local = netip.AddrPortFrom(e.local.Addr(), port)
				u.ports[port] = []*Conn{e}
				return nil
			}
		}
		return stack.ErrAddressInUse
	}
	old := u.ports[e.local.Port()]
	fe := covers(e.local.Addr(), e.v6only)
	for _, o := range old {
		a, b := o.local.Addr(), e.local.Addr()
		if covers(a, o.v6only)&fe == 0 {
			continue
		}
		if bindConflict(a, b) {
			return stack.ErrAddressInUse
		}
	}
	u.ports[e.local.Port()] = append(old[:len(old):len(old)], e)
	return nil
}

// unbind removes e from the demultiplexer.
func (u *Protocol) unbind(e *Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	old := u.ports[e.local.Port()]
	var next []*Conn
	for _, o := range old {
		if o != e {
			next = append(next, o)
		}
	}
	if len(next) == 0 {
		delete(u.ports, e.local.Port())
	} else {
		u.ports[e.local.Port()] = next
	}
}

// Close closes every endpoint; later Listen and Dial fail with
// stack.ErrClosed.
func (u *Protocol) Close() error {
	u.mu.Lock()
	u.closed = true
	var all []*Conn
	for _, eps := range u.ports {
		all = append(all, eps...)
	}
	u.mu.Unlock()
	for _, e := range all {
		e.close()
	}
	if f := u.fwd.Load(); f != nil {
		f.Close()
	}
	return nil
}

// Endpoints returns the local and remote addresses of every endpoint (the
// remote is zero for unconnected ones), sorted by local port, for status
// pages.
func (u *Protocol) Endpoints() []EndpointInfo {
	u.mu.RLock()
	defer u.mu.RUnlock()
	var out []EndpointInfo
	for _, eps := range u.ports {
		for _, e := range eps {
			out = append(out, EndpointInfo{Local: e.local, Remote: e.remote, Queued: e.queuedBytes()})
		}
	}
	slices.SortFunc(out, func(a, b EndpointInfo) int {
		if c := cmp.Compare(a.Local.Port(), b.Local.Port()); c != 0 {
			return c
		}
		return a.Local.Addr().Compare(b.Local.Addr())
	})
	return out
}

// EndpointInfo describes one endpoint for a status page.
type EndpointInfo struct {
	// Local is the bound address; 0.0.0.0 or :: for a wildcard.
	Local netip.AddrPort
	// Remote is the connected peer, or the zero value.
	Remote netip.AddrPort
	// Queued is the receive-queue usage in bytes.
	Queued int
}
