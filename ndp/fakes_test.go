package ndp_test

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// frame is one packet a link was asked to write.
type frame = stacktest.Frame

// newLink is a recording link at mac (see stacktest.Link: Connect two for
// a two-host test).
func newLink(mac stack.MAC) *stacktest.Link { return stacktest.NewLink(mac, 1500) }

// fakeIPv6 stands in for package ipv6 at EtherType 0x86dd: it prepends a
// 40-byte IPv6 header to what is written through it, hands inbound ICMPv6
// messages with a correct checksum to the registered handler (as ipv6
// input does) and records resolution failures.
type fakeIPv6 struct {
	stacktest.FailureLog
	s      *stack.Stack
	mu     sync.Mutex
	badSum int
}

func (f *fakeIPv6) EtherType() uint16 { return stack.EtherTypeIPv6 }

func (f *fakeIPv6) WritePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	n := p.Len()
	h := p.Push(40)
	h[0], h[1], h[2], h[3] = 0x60, 0, 0, 0
	binary.BigEndian.PutUint16(h[4:], uint16(n))
	h[6] = params.Protocol
	h[7] = params.TTL
	if h[7] == 0 {
		h[7] = 64
	}
	s, d := r.LocalAddr.As16(), r.RemoteAddr.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv6, p)
}

func (f *fakeIPv6) HandlePacket(p *stack.Packet) {
	b := p.Bytes()
	if len(b) < 40 || b[6] != stack.ProtocolICMPv6 || int(binary.BigEndian.Uint16(b[4:]))+40 > len(b) || len(b) < 44 {
		p.Release()
		return
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.TTL = b[7]
	p.Trim(40 + int(binary.BigEndian.Uint16(b[4:])))
	p.Pull(40)
	m := p.Bytes()
	if checksum.Checksum(m, checksum.PseudoHeader(p.Src, p.Dst, stack.ProtocolICMPv6, uint16(len(m)))) != 0 {
		f.mu.Lock()
		f.badSum++
		f.mu.Unlock()
		p.Release()
		return
	}
	if h := f.s.ICMPv6Handler(m[0]); h != nil {
		h.HandleICMPv6(p)
		return
	}
	p.Release()
}

var (
	ourMAC   = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	peerMAC  = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
	otherMAC = stack.MAC{0x02, 0, 0, 0, 0, 0x03}
	ourLL    = netip.MustParseAddr("fe80::2")
	ourIP    = netip.MustParseAddr("fd00::2")
	peerLL   = netip.MustParseAddr("fe80::1")
	peerIP   = netip.MustParseAddr("fd00::1")
	otherIP  = netip.MustParseAddr("fd00::3")
	allNodes = netip.MustParseAddr("ff02::1")
)

// fixture is a stack with a fake IPv6 layer, ndp and one NIC eth0 with
// fe80::2/64 and fd00::2/64 on a recording link, on a virtual clock.
type fixture struct {
	t    testing.TB
	clk  *vclock.Clock
	s    *stack.Stack
	ndp  *ndp.Protocol
	ip   *fakeIPv6
	link *stacktest.Link
	nic  *stack.NIC
}

// newBareFixture is a fixture whose NIC has no addresses yet.
func newBareFixture(t testing.TB, opts ndp.Options) *fixture {
	t.Helper()
	stacktest.CheckLeaks(t)
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0.5 }
	}
	f := &fixture{t: t, clk: vclock.New(time.Unix(1_700_000_000, 0)), link: newLink(ourMAC)}
	f.s = stack.New(stack.Options{Clock: f.clk})
	f.ip = &fakeIPv6{s: f.s}
	if err := f.s.RegisterNetwork(f.ip); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.ndp, err = ndp.Register(f.s, opts); err != nil {
		t.Fatal(err)
	}
	if f.nic, err = f.s.AddNIC("eth0", f.link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		f.ndp.Close()
		stacktest.CloseStack(t, f.s)
	})
	return f
}

func newFixture(t testing.TB, opts ndp.Options) *fixture {
	t.Helper()
	f := newBareFixture(t, opts)
	for _, a := range []string{"fe80::2/64", "fd00::2/64"} {
		if err := f.nic.AddAddress(netip.MustParsePrefix(a)); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.link.Take(); len(got) != 2 {
		t.Fatalf("adding two addresses sent %d frames, want 2 unsolicited NAs", len(got))
	}
	return f
}

// deliverMsg hands the ICMPv6 message m (checksum set here) from src to
// dst with hop limit hl to eth0, as from linkSrc.
func (f *fixture) deliverMsg(m []byte, src, dst netip.Addr, hl uint8, linkSrc stack.MAC) {
	ndp.SetChecksum(m, src, dst)
	b := make([]byte, 40+len(m))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(m)))
	b[6], b[7] = stack.ProtocolICMPv6, hl
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], m)
	linkDst := ourMAC
	if dst.IsMulticast() {
		linkDst = stack.MulticastMAC(dst)
	}
	stacktest.Deliver(f.nic, stack.EtherTypeIPv6, linkSrc, linkDst, b)
}

// encode returns the encoding of a fields struct.
func encode(m interface {
	Len() int
	Encode([]byte)
}) []byte {
	b := make([]byte, m.Len())
	m.Encode(b)
	return b
}

// na delivers an NA for target from peerLL-style src with mac.
func (f *fixture) na(target netip.Addr, mac stack.MAC, solicited, override, router bool) {
	m := ndp.NeighborAdvertisement{Router: router, Solicited: solicited, Override: override, Target: target, TargetLinkAddr: mac}
	dst := ourIP
	if !solicited {
		dst = allNodes
	}
	f.deliverMsg(encode(&m), target, dst, 255, mac)
}

// ns delivers an NS for target from src at mac to the target's
// solicited-node group.
func (f *fixture) ns(src netip.Addr, mac stack.MAC, target netip.Addr) {
	m := ndp.NeighborSolicitation{Target: target, SourceLinkAddr: mac}
	if src.IsUnspecified() {
		m.SourceLinkAddr = stack.MAC{}
	}
	f.deliverMsg(encode(&m), src, stack.SolicitedNodeAddress(target), 255, mac)
}

// send writes an IPv6-typed packet holding payload to nextHop through ndp.
func (f *fixture) send(nextHop netip.Addr, payload string) error {
	return f.ndp.WriteTo(f.nic, nextHop, stack.EtherTypeIPv6, stack.NewPacketFrom([]byte(payload)))
}

func (f *fixture) counter(name string) uint64 { return f.s.Counters().Value(name) }

func (f *fixture) entry(addr netip.Addr) (ndp.Entry, bool) {
	for _, e := range f.ndp.Entries() {
		if e.Addr == addr {
			return e, true
		}
	}
	return ndp.Entry{}, false
}

func (f *fixture) checkState(addr netip.Addr, want ndp.State) {
	f.t.Helper()
	if e, ok := f.entry(addr); !ok || e.State != want {
		f.t.Fatalf("entry for %v: %+v (present %v), want %v", addr, e, ok, want)
	}
}

// sent is a decoded ND message we sent.
type sent struct {
	linkDst  stack.MAC
	src, dst netip.Addr
	hopLimit uint8
	msg      ndp.Message
}

// decode parses a recorded frame as IPv6 + ND and checks hop limit 255,
// the checksum and validity.
func decode(t testing.TB, fr frame) sent {
	t.Helper()
	b := fr.Data
	if fr.EtherType != stack.EtherTypeIPv6 || len(b) < 44 || b[6] != stack.ProtocolICMPv6 {
		t.Fatalf("frame is not ICMPv6: %x", b)
	}
	s := sent{linkDst: fr.Dst, src: netip.AddrFrom16([16]byte(b[8:24])), dst: netip.AddrFrom16([16]byte(b[24:40])), hopLimit: b[7], msg: ndp.Message(b[40:])}
	if s.hopLimit != 255 {
		t.Fatalf("hop limit %d, want 255", s.hopLimit)
	}
	if !s.msg.VerifyChecksum(s.src, s.dst) {
		t.Fatalf("bad ICMPv6 checksum")
	}
	if err := ndp.Check(s.msg, s.src, s.dst, s.hopLimit); err != nil {
		t.Fatalf("we sent an invalid message: %v", err)
	}
	if fr.Dst != stack.MulticastMAC(s.dst) && s.dst.IsMulticast() {
		t.Fatalf("multicast %v sent to MAC %v", s.dst, fr.Dst)
	}
	return s
}

// takeMsgs decodes every recorded frame.
func (f *fixture) takeMsgs() []sent {
	f.t.Helper()
	var out []sent
	for _, fr := range f.link.Take() {
		if fr.EtherType == stack.EtherTypeIPv6 && len(fr.Data) > 40 && fr.Data[6] == stack.ProtocolICMPv6 {
			out = append(out, decode(f.t, fr))
		}
	}
	return out
}
