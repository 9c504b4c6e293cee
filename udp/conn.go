package udp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Errors the Conn methods wrap in a *net.OpError.
var (
	errClosed              = net.ErrClosed
	errDeadline            = os.ErrDeadlineExceeded
	errBroadcast           = stack.NewError("permission denied: sending to a broadcast address needs SetBroadcast(true)", syscall.EACCES)
	errDestRequired        = stack.NewError("destination address required", syscall.EDESTADDRREQ)
	errProtocolUnreachable = stack.NewError("protocol not available", syscall.ENOPROTOOPT)
	errNoAddress           = stack.NewError("invalid address: the zero address or an unspecified destination", syscall.EINVAL)
)

// Conn is a UDP endpoint. From Listen it is unconnected and implements
// net.PacketConn; from Dial it is connected to one peer, implements net.Conn
// and receives only that peer's datagrams. Its methods are safe for
// concurrent use.
type Conn struct {
	u      *Protocol
	local  netip.AddrPort // fixed once bound
	remote netip.AddrPort // valid when connected
	route  *stack.Route   // connected only: the cached route to remote
	// v6only says a socket on :: takes no IPv4 datagrams ("udp6").
	v6only bool
	// network is "udp", "udp4" or "udp6", for errors.
	network string
	// flow is set for the Conn of a forwarded flow (forwarder.go): it
	// lives in the Forwarder's table, not in the port demultiplexer.
	flow *flow

	bcast atomic.Bool
	mc    multicast // multicast.go

	mu      sync.Mutex
	q       ring
	used    int
	limit   int
	softErr error
	closed  bool

	ready chan struct{} // capacity 1: a datagram or error arrived
	done  chan struct{} // closed by Close
	rd    deadline
	wd    deadline
}

var (
	_ net.PacketConn = (*Conn)(nil)
	_ net.Conn       = (*Conn)(nil)
)

// routePool recycles Route values for unconnected sends: a Route handed to
// the IP layer through an interface escapes, and taking it from a pool keeps
// the send path free of allocations.
var routePool = sync.Pool{New: func() any { return new(stack.Route) }}

func newConn(u *Protocol, network string, local netip.AddrPort) *Conn {
	c := &Conn{
		u:       u,
		network: network,
		local:   local,
		limit:   u.opts.ReceiveBuffer,
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		rd:      newDeadline(u.s.Clock()),
		wd:      newDeadline(u.s.Clock()),
	}
	return c
}

// Listen opens an unconnected endpoint bound to addr on s; it is
// ListenNetwork with network "udp". The address may be the zero Addr or
// :: (every address of both families), 0.0.0.0 (every IPv4 address), one
// of the stack's addresses, or a broadcast or multicast address; port 0
// chooses an ephemeral port (32768–60999). A taken address fails with
// EADDRINUSE.
func Listen(s *stack.Stack, addr netip.AddrPort) (*Conn, error) {
	return ListenNetwork(s, "udp", addr)
}

// ListenNetwork is Listen for network "udp", "udp4" or "udp6", with Go's
// rules on Linux for the wildcard: under "udp" the zero Addr and :: bind
// dual-stack (IPv4 datagrams arrive from plain IPv4 addresses), "udp6"
// makes the socket IPv6-only, "udp4" (or the address 0.0.0.0) binds IPv4
// only. An IPv4-mapped address is its IPv4 address. A host's
// ListenPacket(network, "host:port") parses the string and calls this,
// with the zero Addr for an empty host.
func ListenNetwork(s *stack.Stack, network string, addr netip.AddrPort) (*Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: udpAddr(addr), Err: err}
	}
	fam, ok := parseNetwork(network)
	if !ok {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	u, err := protocolOf(s)
	if err != nil {
		return nil, opErr(err)
	}
	a, v6only, err := bindAddr(fam, addr.Addr())
	if err != nil {
		return nil, opErr(err)
	}
	if !a.IsUnspecified() && !a.IsMulticast() && !s.IsLocalAddress(a) && !isBroadcast(s, a) {
		return nil, opErr(stack.ErrAddressNotLocal)
	}
	c := newConn(u, network, netip.AddrPortFrom(a, addr.Port()))
	c.v6only = v6only
	if err := u.bind(c); err != nil {
		return nil, opErr(err)
	}
	return c, nil
}

// isBroadcast reports whether a is a broadcast address of one of s's NICs.
func isBroadcast(s *stack.Stack, a netip.Addr) bool {
	for _, n := range s.NICs() {
		if n.IsBroadcast(a) {
			return true
		}
	}
	return false
}

// Dial opens an endpoint connected to raddr, IPv4 or IPv6: it binds an
// ephemeral port on the source address of the route to raddr, caches the
// route, and receives only datagrams from raddr; it is DialNetwork with
// network "udp". UDP sends nothing to connect, so ctx is only checked for
// cancellation. Dialing a broadcast address succeeds, but Write fails with
// EACCES until SetBroadcast(true), as a send on Linux does.
func Dial(ctx context.Context, s *stack.Stack, raddr netip.AddrPort) (*Conn, error) {
	return DialNetwork(ctx, s, "udp", raddr)
}

// DialNetwork is Dial for network "udp", "udp4" or "udp6"; the last two
// refuse an address of the other family (EAFNOSUPPORT). An IPv4-mapped
// address is dialled over IPv4; a zone (fe80::1%eth0) names the
// interface of a link-local address.
func DialNetwork(ctx context.Context, s *stack.Stack, network string, raddr netip.AddrPort) (*Conn, error) {
	opErr := func(src net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: network, Source: src, Addr: udpAddr(raddr), Err: err}
	}
	fam, ok := parseNetwork(network)
	if !ok {
		return nil, opErr(nil, net.UnknownNetworkError(network))
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(nil, err)
	}
	u, err := protocolOf(s)
	if err != nil {
		return nil, opErr(nil, err)
	}
	ra := raddr.Addr().Unmap()
	if !ra.IsValid() || ra.IsUnspecified() {
		return nil, opErr(nil, errNoAddress)
	}
	if fam&familyOf(ra) == 0 {
		return nil, opErr(nil, errAddrFamily)
	}
	if raddr.Port() == 0 {
		return nil, opErr(nil, stack.ErrInvalid)
	}
	raddr = netip.AddrPortFrom(normalize(ra), raddr.Port())
	r, err := s.FindRoute(ra, netip.Addr{})
	if err != nil {
		return nil, opErr(nil, err)
	}
	c := newConn(u, network, netip.AddrPortFrom(r.LocalAddr, 0))
	c.remote = raddr
	c.route = &r
	if err := u.bind(c); err != nil {
		return nil, opErr(nil, err)
	}
	return c, nil
}

func udpAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(ap)
}

func (c *Conn) opError(op string, remote netip.AddrPort, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: udpAddr(c.local), Addr: udpAddr(remote), Err: err}
}

// LocalAddrPort returns the bound address.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.local }

// RemoteAddrPort returns the connected peer, or the zero value.
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.remote }

// LocalAddr returns the bound address as a *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return udpAddr(c.local) }

// RemoteAddr returns the connected peer as a *net.UDPAddr, or nil when c
// is not connected.
func (c *Conn) RemoteAddr() net.Addr { return udpAddr(c.remote) }

// ReadFromUDPAddrPort reads the next datagram into b and returns its length
// and sender. A datagram longer than b is truncated to len(b) without an
// error, as with net.UDPConn. It blocks until a datagram arrives, the read
// deadline passes (os.ErrDeadlineExceeded), an ICMP error is reported on a
// connected conn (ECONNREFUSED and the like, once), or c is closed
// (net.ErrClosed). It does not allocate.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, m, err := c.dequeue(b)
	if err != nil {
		return 0, netip.AddrPort{}, c.opError("read", c.remote, err)
	}
	return n, m.From, nil
}

// MsgInfo says where a received datagram came from and where it was sent,
// what Linux reports with IP_PKTINFO.
type MsgInfo struct {
	// From is the sender's address and port; a link-local IPv6 sender
	// carries the name of the interface it came in on as its zone
	// (fe80::1%eth0), so a reply to From leaves by that interface.
	From netip.AddrPort
	// To is the datagram's destination address and port: one of the
	// host's addresses, a broadcast address or a multicast group.
	To netip.AddrPort
	// Group reports that To is a broadcast address (255.255.255.255 or
	// the directed broadcast of the receiving interface's subnet) or a
	// multicast group, so the datagram went to many hosts. Services that
	// answer every datagram (echo, chargen) must not answer these: one
	// spoofed broadcast would make every host answer the victim.
	Group bool
}

// ReadMsg is ReadFromUDPAddrPort that also reports the datagram's
// destination (MsgInfo). It does not allocate.
func (c *Conn) ReadMsg(b []byte) (int, MsgInfo, error) {
	n, m, err := c.dequeue(b)
	if err != nil {
		return 0, MsgInfo{}, c.opError("read", c.remote, err)
	}
	return n, m, nil
}

// ReadFromUDP is ReadFromUDPAddrPort returning a *net.UDPAddr.
func (c *Conn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFrom implements net.PacketConn; the address is a *net.UDPAddr.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// Read implements net.Conn: it reads the next datagram like ReadFrom and
// drops the sender.
func (c *Conn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(b)
	return n, err
}

// WriteToUDPAddrPort sends b as one datagram to addr, IPv4 or IPv6. It
// fails with net.ErrWriteToConnected on a connected conn, EAFNOSUPPORT for
// a family the binding does not take (an IPv6 address from a socket on
// 0.0.0.0, say), EMSGSIZE for more than MaxPayload bytes (MaxPayload6 to
// IPv6), EACCES for a broadcast address without SetBroadcast(true), and
// os.ErrDeadlineExceeded after the write deadline. It does not allocate.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.remote.IsValid() {
		return 0, c.opError("write", addr, net.ErrWriteToConnected)
	}
	a := addr.Addr().Unmap() // with its zone, which names the interface
	if !a.IsValid() || a.IsUnspecified() {
		return 0, c.opError("write", addr, errNoAddress)
	}
	if !c.takes(a) {
		return 0, c.opError("write", addr, errAddrFamily)
	}
	if addr.Port() == 0 {
		return 0, c.opError("write", addr, stack.ErrInvalid)
	}
	addr = netip.AddrPortFrom(normalize(a), addr.Port())
	if err := c.checkWrite(len(b), a); err != nil {
		return 0, c.opError("write", addr, err)
	}
	var src netip.Addr
	if !c.local.Addr().IsUnspecified() && !c.local.Addr().IsMulticast() && !isBroadcast(c.u.s, c.local.Addr()) {
		src = c.local.Addr()
	}
	r := routePool.Get().(*stack.Route)
	var err error
	*r, err = c.findRoute(a, src)
	if err == nil {
		err = c.send(b, r, addr.Port())
	}
	*r = stack.Route{}
	routePool.Put(r)
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return len(b), nil
}

// WriteToUDP is WriteToUDPAddrPort taking a *net.UDPAddr.
func (c *Conn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, c.opError("write", netip.AddrPort{}, errDestRequired)
	}
	return c.WriteToUDPAddrPort(b, addr.AddrPort())
}

// WriteTo implements net.PacketConn; addr must be a *net.UDPAddr.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: syscall.EINVAL}
	}
	return c.WriteToUDP(b, ua)
}

// Write implements net.Conn: it sends b as one datagram to the connected
// peer, along the route found at Dial. An unconnected conn fails with
// EDESTADDRREQ.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.remote.IsValid() {
		return 0, c.opError("write", netip.AddrPort{}, errDestRequired)
	}
	err := c.checkWrite(len(b), c.remote.Addr())
	if err == nil {
		err = c.send(b, c.route, c.remote.Port())
	}
	if err == nil && c.flow != nil {
		c.flow.touch()
	}
	if err != nil {
		return 0, c.opError("write", c.remote, err)
	}
	return len(b), nil
}

// checkWrite applies the checks every send of n bytes to dst makes before
// building a packet.
func (c *Conn) checkWrite(n int, dst netip.Addr) error {
	if isClosed(c.done) {
		return errClosed
	}
	if c.wd.expired() {
		return errDeadline
	}
	if err := c.takeError(); err != nil {
		return err
	}
	if n > maxPayloadTo(dst) {
		return stack.ErrMessageTooLong
	}
	return nil
}

// send builds the datagram to port in a pooled packet and hands it to the
// IP layer along r.
func (c *Conn) send(b []byte, r *stack.Route, port uint16) error {
	if r.Broadcast && !c.bcast.Load() {
		return errBroadcast
	}
	length := HeaderLen + len(b)
	p := stack.NewPacket(stack.Headroom, length)
	d := p.Bytes()
	copy(d[HeaderLen:], b)
	Fields{SrcPort: c.local.Port(), DstPort: port, Length: uint16(length)}.Encode(d)
	h := Header(d)
	h.SetChecksum(h.ComputeChecksum(r.LocalAddr, r.RemoteAddr))
	params := c.multicastParams(r)
	c.loopMulticast(r, params, p)
	// Counted before it leaves: its answer on a synchronous wire can
	// arrive (and be read with the counter) before WritePacket returns.
	c.u.txDatagrams.Inc()
	if err := r.WritePacket(params, p); err != nil {
		c.u.txErrors.Inc()
		return err
	}
	return nil
}

// SetBroadcast allows (or again forbids) sending to broadcast addresses,
// like SO_BROADCAST. Receiving broadcasts needs no opt-in.
func (c *Conn) SetBroadcast(on bool) { c.bcast.Store(on) }

// SetReadBuffer sets the receive queue limit in bytes (payload plus a
// fixed per-datagram overhead). A datagram is queued when the queue is
// empty or it fits under the limit.
func (c *Conn) SetReadBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", c.remote, stack.ErrInvalid)
	}
	c.mu.Lock()
	c.limit = bytes
	c.mu.Unlock()
	return nil
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the time after which blocked and future reads fail
// with os.ErrDeadlineExceeded; the zero time means none. It follows the
// stack's clock.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if isClosed(c.done) {
		return c.opError("set", c.remote, errClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the time after which writes fail with
// os.ErrDeadlineExceeded; the zero time means none.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if isClosed(c.done) {
		return c.opError("set", c.remote, errClosed)
	}
	c.wd.set(t)
	return nil
}

// Close unbinds c, drops queued datagrams and wakes blocked reads, which
// return net.ErrClosed. Closing twice returns net.ErrClosed.
func (c *Conn) Close() error {
	if !c.close() {
		return c.opError("close", c.remote, errClosed)
	}
	return nil
}
