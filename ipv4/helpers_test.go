package ipv4

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

var (
	ourAddr   = netip.MustParseAddr("10.0.0.2")
	peerAddr  = netip.MustParseAddr("10.0.0.1")
	otherAddr = netip.MustParseAddr("10.0.0.9")
	dirBcast  = netip.MustParseAddr("10.0.0.255")
	ourMAC    = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	peerMAC   = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
)

// frame is one packet a fakeLink was asked to send.
type frame struct {
	dst       stack.MAC
	etherType uint16
	data      []byte
}

// fakeLink is a stack.LinkEndpoint that records (a copy of) every packet
// written and releases it; with discard it only releases.
type fakeLink struct {
	mtu     int
	discard bool

	mu     sync.Mutex
	frames []frame
}

func (l *fakeLink) MTU() int                       { return l.mtu }
func (l *fakeLink) LinkAddress() stack.MAC         { return ourMAC }
func (l *fakeLink) Attach(stack.NetworkDispatcher) {}
func (l *fakeLink) Close() error                   { return nil }
func (l *fakeLink) WritePacket(dst stack.MAC, et uint16, p *stack.Packet) error {
	if !l.discard {
		l.mu.Lock()
		l.frames = append(l.frames, frame{dst, et, append([]byte(nil), p.Bytes()...)})
		l.mu.Unlock()
	}
	p.Release()
	return nil
}

// take returns and forgets the recorded frames.
func (l *fakeLink) take() []frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.frames
	l.frames = nil
	return f
}

// fakeResolver resolves every next hop to peerMAC at once.
type fakeResolver struct{}

func (fakeResolver) WriteTo(nic *stack.NIC, _ netip.Addr, et uint16, p *stack.Packet) error {
	return nic.WriteLinkPacket(peerMAC, et, p)
}

// delivered is a packet a fakeTransport received.
type delivered struct {
	src, dst   netip.Addr
	ttl, tos   uint8
	checksumOK bool
	data       []byte
}

// fakeTransport records packets and errors; with refuse its HandlePacket
// returns false (no endpoint: port unreachable).
type fakeTransport struct {
	number  uint8
	refuse  bool
	discard bool // release packets without recording them

	mu      sync.Mutex
	packets []delivered
	errs    []stack.TransportError
}

func (t *fakeTransport) Number() uint8 { return t.number }
func (t *fakeTransport) HandlePacket(p *stack.Packet) bool {
	if t.refuse {
		return false
	}
	if t.discard {
		p.Release()
		return true
	}
	t.mu.Lock()
	t.packets = append(t.packets, delivered{p.Src, p.Dst, p.TTL, p.TOS, p.ChecksumOK, append([]byte(nil), p.Bytes()...)})
	t.mu.Unlock()
	p.Release()
	return true
}
func (t *fakeTransport) HandleError(e stack.TransportError) {
	e.Transport = append([]byte(nil), e.Transport...)
	t.mu.Lock()
	t.errs = append(t.errs, e)
	t.mu.Unlock()
}
func (t *fakeTransport) takePackets() []delivered {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.packets
	t.packets = nil
	return p
}
func (t *fakeTransport) takeErrors() []stack.TransportError {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.errs
	t.errs = nil
	return e
}

// env is a stack with one NIC (10.0.0.2/24 on a fakeLink), ipv4 and a fake
// UDP transport (protocol 17).
type env struct {
	s     *stack.Stack
	pr    *Protocol
	nic   *stack.NIC
	link  *fakeLink
	udp   *fakeTransport
	clock *vclock.Clock
}

func newEnv(tb testing.TB, opts Options) *env {
	tb.Helper()
	live := stack.LivePackets()
	e := &env{link: &fakeLink{mtu: 1500}, udp: &fakeTransport{number: stack.ProtocolUDP}, clock: vclock.New(time.Unix(1_000_000, 0))}
	e.s = stack.New(stack.Options{Clock: e.clock})
	var err error
	if e.pr, err = Register(e.s, opts); err != nil {
		tb.Fatal(err)
	}
	e.s.SetResolver(stack.EtherTypeIPv4, fakeResolver{})
	if err := e.s.RegisterTransport(e.udp); err != nil {
		tb.Fatal(err)
	}
	if e.nic, err = e.s.AddNIC("eth0", e.link); err != nil {
		tb.Fatal(err)
	}
	if err := e.nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		e.pr.flushLoopback()
		if err := e.s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		select {
		case <-e.pr.loop.Done():
		default:
			tb.Errorf("loopback goroutine still running after Close")
		}
		if n := stack.LivePackets(); n != live {
			tb.Errorf("packet leak: %d live packets, want %d", n, live)
		}
	})
	return e
}

// count returns a counter value.
func (e *env) count(name string) uint64 { return e.s.Counters().Value(name) }

// inject delivers an IPv4 packet as if it arrived on the NIC from peerMAC.
func (e *env) inject(b []byte, linkDst stack.MAC) {
	p := stack.NewPacketFrom(b)
	p.EtherType = stack.EtherTypeIPv4
	p.LinkSrc, p.LinkDst = peerMAC, linkDst
	e.nic.DeliverNetworkPacket(p)
}

// ipPacket builds an IPv4 packet: a header from f (TotalLength, TTL and
// Protocol filled in when zero) followed by payload.
func ipPacket(f Fields, payload []byte) []byte {
	if f.TTL == 0 {
		f.TTL = 64
	}
	hl := f.HeaderLength()
	if f.TotalLength == 0 {
		f.TotalLength = uint16(hl + len(payload))
	}
	b := make([]byte, hl+len(payload))
	f.Encode(b)
	copy(b[hl:], payload)
	return b
}

// icmpMsg builds an ICMP message with a valid checksum.
func icmpMsg(typ, code uint8, rest uint32, payload []byte) []byte {
	b := make([]byte, ICMPHeaderLen+len(payload))
	f := ICMPFields{Type: typ, Code: code, Rest: rest, Payload: payload}
	f.Encode(b)
	return b
}

// udpish is an 8-byte "transport header" plus data; the fake transport
// does not care about its contents.
func udpish(data string) []byte {
	return append([]byte{0x30, 0x39, 0x00, 0x35, 0, byte(8 + len(data)), 0, 0}, data...)
}

// fixChecksum recomputes the IPv4 header checksum of b in place.
func fixChecksum(b []byte) {
	hl := int(b[0]&0x0f) * 4
	b[10], b[11] = 0, 0
	c := checksum.Checksum(b[:hl], 0)
	b[10], b[11] = byte(c>>8), byte(c)
}
