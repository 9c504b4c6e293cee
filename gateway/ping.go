package gateway

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
)

// Defaults of Pinger.
const (
	// DefaultPingSlots is how many relayed echoes are remembered for
	// their replies: a ring, the oldest forgotten first.
	DefaultPingSlots = 4096
	// DefaultPingQueue bounds the echoes waiting to be sent; beyond it
	// they are dropped (gateway.ping.queue_full).
	DefaultPingQueue = 256
	// maxEchoData is the largest echo payload relayed (a 1500-byte
	// packet's); longer echoes are dropped (gateway.ping.too_long).
	maxEchoData = 1500 - ipv4.HeaderLen - ipv4.ICMPHeaderLen
)

// Pinger relays the guests' IPv4 pings to destinations outside the subnet
// through one ICMP socket of the gateway's namespace: the echo leaves the
// host as the gateway's own (so the RTT, loss and reachability the guest
// sees are the real ones), and its reply goes back to the guest from the
// address it pinged, with the guest's identifier, sequence number and the
// data that came back. A send the kernel refuses at once (no route:
// ENETUNREACH, EHOSTUNREACH) is answered with ICMP destination unreachable
// from the router address. Pings to the router and DNS addresses are the
// host's own and always answered.
//
// The socket is an unprivileged ICMP datagram socket (socket(AF_INET,
// SOCK_DGRAM, IPPROTO_ICMP); the process's group must be in
// net.ipv4.ping_group_range), else a raw one (root or CAP_NET_RAW). When
// neither opens, echoes are answered by the gateway itself (counted
// gateway.ping.local): the guest then sees the gateway's RTT.
//
// Bounded: Slots echoes remembered for their replies (a ring; a reply to
// a forgotten echo is dropped, gateway.ping.stale) and Queue echoes
// waiting to be sent.
type Pinger struct {
	// Listen opens the ICMP socket (raw true: a raw socket whose reads
	// and writes carry the ICMP message and which sees every ICMP
	// message); nil means ListenICMP.
	Listen func() (c net.PacketConn, raw bool, err error)
	// Slots and Queue bound the relay (DefaultPingSlots,
	// DefaultPingQueue).
	Slots, Queue int

	// send transmits an ICMP message to a guest from an address.
	send func(from, to netip.Addr, f ipv4.ICMPFields) error
	// router is the source of the unreachables the relay makes.
	router netip.Addr

	conn  net.PacketConn
	raw   bool
	local bool
	out   chan *echoOut
	pool  sync.Pool
	wg    sync.WaitGroup

	mu      sync.Mutex
	slots   []pingSlot
	next    uint16
	stopped bool

	ctrRelayed, ctrReplies, ctrLocal, ctrQueueFull, ctrTooLong, ctrStale, ctrUnreach, ctrSendErr *stack.Counter
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

// start readies p for a gateway: opens the socket and starts its
// goroutines, or falls back to answering locally.
func (p *Pinger) start(cs *stack.Counters, router netip.Addr, send func(from, to netip.Addr, f ipv4.ICMPFields) error) {
	if p.Listen == nil {
		p.Listen = ListenICMP
	}
	if p.Slots <= 0 {
		p.Slots = DefaultPingSlots
	}
	if p.Queue <= 0 {
		p.Queue = DefaultPingQueue
	}
	p.send, p.router = send, router
	p.ctrRelayed = cs.Get("gateway.ping.relayed")
	p.ctrReplies = cs.Get("gateway.ping.replies")
	p.ctrLocal = cs.Get("gateway.ping.local")
	p.ctrQueueFull = cs.Get("gateway.ping.queue_full")
	p.ctrTooLong = cs.Get("gateway.ping.too_long")
	p.ctrStale = cs.Get("gateway.ping.stale")
	p.ctrUnreach = cs.Get("gateway.ping.unreachable")
	p.ctrSendErr = cs.Get("gateway.ping.send_error")
	c, raw, err := p.Listen()
	if err != nil {
		p.local = true
		cs.Get("gateway.ping.no_socket").Inc()
		return
	}
	p.conn, p.raw = c, raw
	p.slots = make([]pingSlot, p.Slots)
	p.out = make(chan *echoOut, p.Queue)
	p.pool.New = func() any { return new(echoOut) }
	p.wg.Add(2)
	go p.writer()
	go p.reader()
}

// Relaying reports whether p relays echoes through a socket (false: it
// answers them itself).
func (p *Pinger) Relaying() bool { return p.conn != nil }

// stop closes the socket and waits for the goroutines; a second stop
// does nothing.
func (p *Pinger) stop() {
	if p.conn == nil {
		return
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	close(p.out)
	p.mu.Unlock()
	p.conn.Close()
	p.wg.Wait()
}

// echo is the forwarder's echo hook: with no socket, the gateway answers
// pings to destinations it would relay to.
func (g *Gateway) echo(src, dst netip.Addr) bool {
	if !g.guest(src) {
		return false
	}
	if _, ok := g.target(netip.AddrPortFrom(dst, 0)); !ok || !g.cfg.Ping.local {
		return false
	}
	g.cfg.Ping.ctrLocal.Inc()
	return true
}

// echoRelay is the IPv4 layer's echo relay hook (packet path).
func (g *Gateway) echoRelay(src, dst netip.Addr, m ipv4.ICMP) bool {
	p := g.cfg.Ping
	if p.conn == nil || !g.guest(src) {
		return false
	}
	if _, ok := g.target(netip.AddrPortFrom(dst, 0)); !ok {
		return false
	}
	p.relay(src.Unmap(), dst.Unmap(), m)
	return true
}

// relay queues the guest's echo m to dst: it takes a slot and a
// sequence number and hands the message to the writer. It does not
// block; a full queue drops the echo (counted).
func (p *Pinger) relay(guest, dst netip.Addr, m ipv4.ICMP) {
	data := m.Payload()
	if len(data) > maxEchoData {
		p.ctrTooLong.Inc()
		return
	}
	o := p.pool.Get().(*echoOut)
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.pool.Put(o)
		return
	}
	seq := p.next
	p.next++
	p.slots[int(seq)%len(p.slots)] = pingSlot{used: true, seq: seq, guest: guest, dst: dst, id: m.ID(), gseq: m.Seq()}
	o.dst, o.seq = dst, seq
	o.n = ipv4.ICMPHeaderLen + len(data)
	f := ipv4.ICMPFields{Type: ipv4.ICMPEcho, Rest: ipv4.EchoRest(relayID, seq), Payload: data}
	f.Encode(o.msg[:o.n])
	select {
	case p.out <- o:
		p.mu.Unlock()
		p.ctrRelayed.Inc()
	default:
		p.slots[int(seq)%len(p.slots)].used = false
		p.mu.Unlock()
		p.pool.Put(o)
		p.ctrQueueFull.Inc()
	}
}

// writer sends the queued echoes; a send refused at once for want of a
// route answers the guest with destination unreachable.
func (p *Pinger) writer() {
	defer p.wg.Done()
	for o := range p.out {
		var to net.Addr = &net.UDPAddr{IP: o.dst.AsSlice()}
		if p.raw {
			to = &net.IPAddr{IP: o.dst.AsSlice()}
		}
		_, err := p.conn.WriteTo(o.msg[:o.n], to)
		if err != nil {
			code := uint8(255)
			switch {
			case errors.Is(err, syscall.ENETUNREACH):
				code = ipv4.CodeNetUnreachable
			case errors.Is(err, syscall.EHOSTUNREACH):
				code = ipv4.CodeHostUnreachable
			}
			if s, ok := p.take(o.seq, o.dst); ok && code != 255 {
				p.unreachable(p.router, code, s, o.msg[:o.n])
			} else {
				p.ctrSendErr.Inc()
			}
		}
		p.pool.Put(o)
	}
}

// reader takes the echo replies (and, on a raw socket, the errors about
// the relay's echoes) and answers the guests.
func (p *Pinger) reader() {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var ip net.IP
		switch a := from.(type) {
		case *net.UDPAddr:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		src, ok := netip.AddrFromSlice(ip)
		m := ipv4.ICMP(buf[:n])
		if !ok || n < ipv4.ICMPHeaderLen {
			continue
		}
		src = src.Unmap()
		switch m.Type() {
		case ipv4.ICMPEchoReply:
			if p.raw && m.ID() != relayID {
				continue // another process's ping
			}
			s, ok := p.take(m.Seq(), src)
			if !ok {
				p.ctrStale.Inc()
				continue
			}
			p.ctrReplies.Inc()
			p.send(s.dst, s.guest, ipv4.ICMPFields{Type: ipv4.ICMPEchoReply, Rest: ipv4.EchoRest(s.id, s.gseq), Payload: m.Payload()})
		case ipv4.ICMPDestUnreach, ipv4.ICMPTimeExceeded:
			// Only a raw socket reads these: the quote is our echo.
			q := ipv4.Header(m.Payload())
			if !p.raw || len(q) < ipv4.HeaderLen || q.HeaderLength() < ipv4.HeaderLen || len(q) < q.HeaderLength()+ipv4.ICMPHeaderLen {
				continue
			}
			e := ipv4.ICMP(q[q.HeaderLength():])
			if q.Protocol() != stack.ProtocolICMP || e.Type() != ipv4.ICMPEcho || e.ID() != relayID {
				continue
			}
			if s, ok := p.take(e.Seq(), q.Dst().Unmap()); ok {
				p.unreachableType(src, m.Type(), m.Code(), s, e[:ipv4.ICMPHeaderLen])
			}
		}
	}
}

// take returns and frees the slot of the relay's sequence number seq, if
// it is an echo to dst still remembered.
func (p *Pinger) take(seq uint16, dst netip.Addr) (pingSlot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[int(seq)%len(p.slots)]
	if !s.used || s.seq != seq || s.dst != dst {
		return pingSlot{}, false
	}
	s.used = false
	return *s, true
}

// unreachable answers the guest of slot s with destination unreachable
// (code) from "from".
func (p *Pinger) unreachable(from netip.Addr, code uint8, s pingSlot, echo []byte) {
	p.unreachableType(from, ipv4.ICMPDestUnreach, code, s, echo)
}

// unreachableType sends the guest of s an ICMP error of type typ and code
// from "from", quoting the guest's echo as the guest sent it (its
// addresses, identifier and sequence number; RFC 792: the internet
// header plus the first 64 bits of the datagram).
func (p *Pinger) unreachableType(from netip.Addr, typ, code uint8, s pingSlot, echo []byte) {
	var q [ipv4.HeaderLen + ipv4.ICMPHeaderLen]byte
	h := ipv4.Fields{TotalLength: uint16(ipv4.HeaderLen + len(echo)), TTL: 64, Protocol: stack.ProtocolICMP, Src: s.guest, Dst: s.dst}
	h.Encode(q[:ipv4.HeaderLen])
	e := ipv4.ICMP(q[ipv4.HeaderLen:])
	copy(e, echo[:ipv4.ICMPHeaderLen])
	binarySet(e, s.id, s.gseq)
	p.ctrUnreach.Inc()
	p.send(from, s.guest, ipv4.ICMPFields{Type: typ, Code: code, Payload: q[:]})
}

// binarySet puts the guest's identifier and sequence number back into
// the quoted echo header e and fixes its checksum as RFC 1624 would
// (recomputed over the 8 bytes: the data is not quoted, so the sum is the
// header's only; receivers match on id and sequence, not this checksum).
func binarySet(e ipv4.ICMP, id, seq uint16) {
	e[4], e[5], e[6], e[7] = byte(id>>8), byte(id), byte(seq>>8), byte(seq)
	e[2], e[3] = 0, 0
	ck := ^checksum.Sum(e, 0)
	e[2], e[3] = byte(ck>>8), byte(ck)
}

// ListenICMP opens the IPv4 ICMP socket of the process's namespace: an
// unprivileged datagram socket (raw false) when net.ipv4.ping_group_range
// allows the process's group, else a raw socket (root or CAP_NET_RAW).
func ListenICMP() (c net.PacketConn, raw bool, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err == nil {
		f := os.NewFile(uintptr(fd), "icmp")
		c, err = net.FilePacketConn(f)
		f.Close()
		if err == nil {
			return c, false, nil
		}
	}
	c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, false, errors.New("gateway: cannot open an ICMP socket (allow ping sockets with sysctl net.ipv4.ping_group_range, or run as root): " + err.Error())
	}
	return c, true, nil
}

// ListenICMPDatagram opens only the unprivileged ICMP datagram socket
// (no raw fallback): for a gateway that must not use its privileges.
func ListenICMPDatagram() (net.PacketConn, bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return nil, false, err
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close()
	c, err := net.FilePacketConn(f)
	return c, false, err
}
