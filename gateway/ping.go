package gateway

import (
	"net"
	"net/netip"
	"sync"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
)

// Defaults of Pinger.
const (
	// DefaultPingSlots is how many relayed echoes are remembered for
	// their replies: a ring, the oldest forgotten first.
	DefaultPingSlots = 4096
	// DefaultPingQueue bounds the echoes waiting to be sent, per
	// family; beyond it they are dropped (gateway.ping.queue_full).
	DefaultPingQueue = 256
	// maxEchoData is the largest echo payload relayed (a 1500-byte IPv4
	// packet's); longer echoes are dropped (gateway.ping.too_long).
	maxEchoData = 1500 - ipv4.HeaderLen - ipv4.ICMPHeaderLen
)

// Pinger relays the guests' pings (ICMP and ICMPv6 echo) to destinations
// outside their subnets through one ICMP socket per family in the
// gateway's namespace: the echo leaves the host as the gateway's own (so
// the RTT, loss and reachability the guest sees are the real ones), and
// its reply goes back to the guest from the address it pinged, with the
// guest's identifier, sequence number and the data that came back. A send
// the kernel refuses at once (no route: ENETUNREACH, EHOSTUNREACH) is
// answered with destination unreachable from the router address. Pings to
// the router and DNS addresses are the host's own and always answered.
//
// The sockets are unprivileged ICMP datagram sockets (socket(AF_INET,
// SOCK_DGRAM, IPPROTO_ICMP) and its IPv6 twin; the process's group must be
// in net.ipv4.ping_group_range, which covers both), else raw ones (root or
// CAP_NET_RAW; these also relay the destinations' unreachables and time
// exceededs). A family whose socket does not open has its echoes answered
// by the gateway itself (counted gateway.ping.local): the guest then sees
// the gateway's RTT.
//
// Bounded: Slots echoes remembered for their replies (a ring shared by the
// guests; a reply to a forgotten echo is dropped, gateway.ping.stale) and
// Queue echoes per family waiting to be sent.
type Pinger struct {
	// Listen opens the ICMP socket of network "ip4" or "ip6" (raw true: a
	// raw socket, which sees every ICMP message of its family); nil means
	// ListenICMP.
	Listen func(network string) (c net.PacketConn, raw bool, err error)
	// Slots and Queue bound the relay (DefaultPingSlots,
	// DefaultPingQueue).
	Slots, Queue int

	socks [2]*pingSock // IPv4, IPv6; nil: answered locally
	pool  sync.Pool
	wg    sync.WaitGroup

	mu      sync.Mutex
	slots   []pingSlot
	next    uint16
	stopped bool

	ctrRelayed, ctrReplies, ctrLocal, ctrQueueFull, ctrTooLong, ctrStale, ctrUnreach, ctrSendErr, ctrLoop *stack.Counter
}

// icmpMsg is an ICMP or ICMPv6 message the Pinger sends a guest.
type icmpMsg struct {
	typ, code uint8
	rest      uint32
	payload   []byte
}

// pingSock is one family's socket and writer queue.
type pingSock struct {
	v6     bool
	conn   net.PacketConn
	raw    bool
	ident  uint16 // the identifier the socket's echoes leave with
	out    chan *echoOut
	router netip.Addr // source of the unreachables the relay makes
	send   func(from, to netip.Addr, m icmpMsg) error
}

// pingSlot is one relayed echo awaiting its reply: the guest's
// addresses, identifier and sequence number, under the relay's sequence
// number seq.
type pingSlot struct {
	used       bool
	seq        uint16
	guest, dst netip.Addr
	id, gseq   uint16
}

// echoOut is an echo waiting to be sent: msg[:n] is the whole ICMP
// message.
type echoOut struct {
	dst netip.Addr
	seq uint16
	n   int
	msg [ipv4.ICMPHeaderLen + maxEchoData]byte
}

// relayID is the identifier of the relay's echoes on a raw socket (a
// datagram socket replaces it with its own).
const relayID = 0x7473 // "ts"

// DefaultPinger returns a Pinger with the defaults.
func DefaultPinger() *Pinger { return &Pinger{} }

// pingFamily is what start needs of one family: the router address and
// how to send the guests an ICMP message; a zero router skips the family.
type pingFamily struct {
	router netip.Addr
	send   func(from, to netip.Addr, m icmpMsg) error
}

// start readies p for a gateway: opens a socket per family and starts
// their goroutines; a family whose socket does not open is answered
// locally.
func (p *Pinger) start(cs *stack.Counters, fams [2]pingFamily) {
	if p.Listen == nil {
		p.Listen = ListenICMP
	}
	if p.Slots <= 0 {
		p.Slots = DefaultPingSlots
	}
	if p.Queue <= 0 {
		p.Queue = DefaultPingQueue
	}
	p.ctrRelayed = cs.Get("gateway.ping.relayed")
	p.ctrReplies = cs.Get("gateway.ping.replies")
	p.ctrLocal = cs.Get("gateway.ping.local")
	p.ctrQueueFull = cs.Get("gateway.ping.queue_full")
	p.ctrTooLong = cs.Get("gateway.ping.too_long")
	p.ctrStale = cs.Get("gateway.ping.stale")
	p.ctrUnreach = cs.Get("gateway.ping.unreachable")
	p.ctrSendErr = cs.Get("gateway.ping.send_error")
	p.ctrLoop = cs.Get("gateway.ping.loop")
	p.slots = make([]pingSlot, p.Slots)
	p.pool.New = func() any { return new(echoOut) }
	for i, f := range fams {
		if !f.router.IsValid() {
			continue
		}
		network := "ip4"
		if i == 1 {
			network = "ip6"
		}
		c, raw, err := p.Listen(network)
		if err != nil {
			cs.Get("gateway.ping.no_socket_" + network).Inc()
			continue
		}
		s := &pingSock{v6: i == 1, conn: c, raw: raw, ident: relayID, out: make(chan *echoOut, p.Queue), router: f.router, send: f.send}
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok && !raw {
			s.ident = uint16(a.Port) // a ping socket's identifier is its "port"
		}
		p.socks[i] = s
		p.wg.Add(2)
		go p.writer(s)
		go p.reader(s)
	}
}

// Relaying reports whether p relays the echoes of the family of a
// through a socket (false: it answers them itself).
func (p *Pinger) Relaying(a netip.Addr) bool { return p.sock(a) != nil }

// sock returns the socket of a's family, nil if none.
func (p *Pinger) sock(a netip.Addr) *pingSock {
	if a.Unmap().Is4() {
		return p.socks[0]
	}
	return p.socks[1]
}

// stop closes the sockets and waits for the goroutines; a second stop
// does nothing.
func (p *Pinger) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	for _, s := range p.socks {
		if s != nil {
			close(s.out)
		}
	}
	p.mu.Unlock()
	for _, s := range p.socks {
		if s != nil {
			s.conn.Close()
		}
	}
	p.wg.Wait()
}

// echo is the forwarders' echo hook: a family with no socket has the
// gateway answer the pings to destinations it would relay to.
func (g *Gateway) echo(src, dst netip.Addr) bool {
	if !g.guest(src) {
		return false
	}
	if _, ok := g.target(netip.AddrPortFrom(dst, 0)); !ok || g.cfg.Ping.Relaying(dst) {
		return false
	}
	g.cfg.Ping.ctrLocal.Inc()
	return true
}

// echoRelay is the IP layers' echo relay hook (packet path); m is the
// ICMP or ICMPv6 echo request.
func (g *Gateway) echoRelay(src, dst netip.Addr, m []byte) bool {
	p := g.cfg.Ping
	s := p.sock(dst)
	if s == nil || !g.guest(src) {
		return false
	}
	if _, ok := g.target(netip.AddrPortFrom(dst, 0)); !ok {
		return false
	}
	if p.looped(s, dst.Unmap(), m) {
		return true // dropped
	}
	p.relay(s, src.Unmap(), dst.Unmap(), m)
	return true
}

// looped reports whether m is one of the relay's own echoes come back
// (the host routes dst through the gateway): its identifier is the
// socket's and its sequence number that of an echo to dst still awaiting
// its reply. Counted gateway.ping.loop; see own.go.
func (p *Pinger) looped(s *pingSock, dst netip.Addr, m []byte) bool {
	if uint16(m[4])<<8|uint16(m[5]) != s.ident {
		return false
	}
	seq := uint16(m[6])<<8 | uint16(m[7])
	p.mu.Lock()
	sl := p.slots[int(seq)%len(p.slots)]
	p.mu.Unlock()
	if !sl.used || sl.seq != seq || sl.dst != dst {
		return false
	}
	p.ctrLoop.Inc()
	return true
}

// relay queues the guest's echo m to dst on s: it takes a slot and a
// sequence number and hands the message to the writer. It does not
// block; a full queue drops the echo (counted).
func (p *Pinger) relay(s *pingSock, guest, dst netip.Addr, m []byte) {
	data := m[ipv4.ICMPHeaderLen:]
	if len(data) > maxEchoData {
		p.ctrTooLong.Inc()
		return
	}
	id, gseq := uint16(m[4])<<8|uint16(m[5]), uint16(m[6])<<8|uint16(m[7])
	o := p.pool.Get().(*echoOut)
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.pool.Put(o)
		return
	}
	seq := p.next
	p.next++
	p.slots[int(seq)%len(p.slots)] = pingSlot{used: true, seq: seq, guest: guest, dst: dst, id: id, gseq: gseq}
	o.dst, o.seq = dst, seq
	o.n = ipv4.ICMPHeaderLen + len(data)
	msg := o.msg[:o.n]
	copy(msg[ipv4.ICMPHeaderLen:], data)
	msg[0], msg[1], msg[2], msg[3] = ipv4.ICMPEcho, 0, 0, 0
	if s.v6 {
		msg[0] = ipv6.ICMPEchoRequest // the kernel sums ICMPv6 (pseudo-header)
	}
	msg[4], msg[5], msg[6], msg[7] = relayID>>8, relayID&0xff, byte(seq>>8), byte(seq)
	if !s.v6 {
		ck := ^checksum.Sum(msg, 0)
		msg[2], msg[3] = byte(ck>>8), byte(ck)
	}
	select {
	case s.out <- o:
		p.mu.Unlock()
		p.ctrRelayed.Inc()
	default:
		p.slots[int(seq)%len(p.slots)].used = false
		p.mu.Unlock()
		p.pool.Put(o)
		p.ctrQueueFull.Inc()
	}
}

// take returns and frees the slot of the relay's sequence number seq, if
// it is an echo to dst still remembered.
func (p *Pinger) take(seq uint16, dst netip.Addr) (pingSlot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sl := &p.slots[int(seq)%len(p.slots)]
	if !sl.used || sl.seq != seq || sl.dst != dst {
		return pingSlot{}, false
	}
	sl.used = false
	return *sl, true
}

// icmpError sends the guest of slot sl an ICMP error of type typ and code
// from "from", quoting the guest's echo as the guest sent it: its IP
// header, and the ICMP header with its identifier and sequence number
// (RFC 792: the internet header plus the first 64 bits of the datagram;
// RFC 4443 2.4(c): as much of the invoking packet as fits).
func (p *Pinger) icmpError(s *pingSock, from netip.Addr, typ, code uint8, sl pingSlot, echoLen int) {
	var q [ipv6.HeaderLen + ipv4.ICMPHeaderLen]byte
	var n int
	if s.v6 {
		h := ipv6.Fields{PayloadLength: uint16(echoLen), NextHeader: stack.ProtocolICMPv6, HopLimit: 64, Src: sl.guest, Dst: sl.dst}
		h.Encode(q[:ipv6.HeaderLen])
		n = ipv6.HeaderLen
		q[n] = ipv6.ICMPEchoRequest
	} else {
		h := ipv4.Fields{TotalLength: uint16(ipv4.HeaderLen + echoLen), TTL: 64, Protocol: stack.ProtocolICMP, Src: sl.guest, Dst: sl.dst}
		h.Encode(q[:ipv4.HeaderLen])
		n = ipv4.HeaderLen
		q[n] = ipv4.ICMPEcho
	}
	e := q[n : n+ipv4.ICMPHeaderLen]
	e[4], e[5], e[6], e[7] = byte(sl.id>>8), byte(sl.id), byte(sl.gseq>>8), byte(sl.gseq)
	if !s.v6 { // the quoted header's own sum (the data is not quoted)
		ck := ^checksum.Sum(e, 0)
		e[2], e[3] = byte(ck>>8), byte(ck)
	}
	p.ctrUnreach.Inc()
	s.send(from, sl.guest, icmpMsg{typ: typ, code: code, payload: q[:n+ipv4.ICMPHeaderLen]})
}

// sendFunc4 and sendFunc6 adapt the IP layers' SendICMPFrom.
func sendFunc4(ip *ipv4.Protocol) func(from, to netip.Addr, m icmpMsg) error {
	return func(from, to netip.Addr, m icmpMsg) error {
		return ip.SendICMPFrom(from, to, ipv4.ICMPFields{Type: m.typ, Code: m.code, Rest: m.rest, Payload: m.payload})
	}
}

func sendFunc6(ip *ipv6.Protocol) func(from, to netip.Addr, m icmpMsg) error {
	return func(from, to netip.Addr, m icmpMsg) error {
		return ip.SendICMPFrom(from, to, ipv6.ICMPFields{Type: m.typ, Code: m.code, Rest: m.rest, Payload: m.payload})
	}
}
