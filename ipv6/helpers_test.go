package ipv6

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

var (
	ourAddr   = netip.MustParseAddr("fd00::2")
	peerAddr  = netip.MustParseAddr("fd00::1")
	otherAddr = netip.MustParseAddr("fd00::9")
	ourLL     = netip.MustParseAddr("fe80::2")
	peerLL    = netip.MustParseAddr("fe80::1")
	farAddr   = netip.MustParseAddr("2001:db8::7")
	ourMAC    = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	peerMAC   = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
)

// frame is one packet a link was asked to send.
type frame = stacktest.Frame

// newLink is a recording link at ourMAC with the given MTU.
func newLink(mtu int) *stacktest.Link { return stacktest.NewLink(ourMAC, mtu) }

// discardLink is a link at ourMAC with the given MTU that records nothing.
func discardLink(mtu int) *stacktest.Link {
	l := newLink(mtu)
	l.SetDiscard(true)
	return l
}

// fakeICMPHandler records the ICMPv6 messages handed to it.
type fakeICMPHandler struct {
	mu   sync.Mutex
	msgs []stacktest.Delivered
}

func (h *fakeICMPHandler) HandleICMPv6(p *stack.Packet) {
	h.mu.Lock()
	h.msgs = append(h.msgs, stacktest.Record(p))
	h.mu.Unlock()
	p.Release()
}

// env is a stack with one NIC (fd00::2/64 and fe80::2/64 on a recording
// link), ipv6 and a recording UDP transport (protocol 17).
type env struct {
	s     *stack.Stack
	pr    *Protocol
	nic   *stack.NIC
	link  *stacktest.Link
	udp   *stacktest.Transport
	clock *vclock.Clock
}

func newEnv(tb testing.TB, opts Options) *env {
	tb.Helper()
	return newEnvMTU(tb, opts, 1500)
}

func newEnvMTU(tb testing.TB, opts Options, mtu int) *env {
	tb.Helper()
	stacktest.CheckLeaks(tb)
	e := &env{link: newLink(mtu), udp: stacktest.NewTransport(stack.ProtocolUDP), clock: vclock.New(time.Unix(1_000_000, 0))}
	e.s = stack.New(stack.Options{Clock: e.clock})
	var err error
	if e.pr, err = Register(e.s, opts); err != nil {
		tb.Fatal(err)
	}
	e.s.SetResolver(stack.EtherTypeIPv6, stacktest.Resolver{MAC: peerMAC})
	if err := e.s.RegisterTransport(e.udp); err != nil {
		tb.Fatal(err)
	}
	if e.nic, err = e.s.AddNIC("eth0", e.link); err != nil {
		tb.Fatal(err)
	}
	for _, a := range []string{"fd00::2/64", "fe80::2/64"} {
		if err := e.nic.AddAddress(netip.MustParsePrefix(a)); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		e.pr.flushLoopback()
		stacktest.CloseStack(tb, e.s, e.pr.loop.Done()) // the loopback goroutine stops
	})
	return e
}

// count returns a counter value.
func (e *env) count(name string) uint64 { return e.s.Counters().Value(name) }

// inject delivers an IPv6 packet as if it arrived on the NIC from peerMAC.
func (e *env) inject(b []byte, linkDst stack.MAC) {
	stacktest.Deliver(e.nic, stack.EtherTypeIPv6, peerMAC, linkDst, b)
}

// ipPacket builds an IPv6 packet: a header from f (PayloadLength and
// HopLimit filled in when zero) followed by payload (extension headers
// and upper-layer data).
func ipPacket(f Fields, payload []byte) []byte {
	if f.HopLimit == 0 {
		f.HopLimit = 64
	}
	if f.PayloadLength == 0 {
		f.PayloadLength = uint16(len(payload))
	}
	b := make([]byte, HeaderLen+len(payload))
	f.Encode(b)
	copy(b[HeaderLen:], payload)
	return b
}

// icmpMsg builds an ICMPv6 message with a valid checksum for src → dst.
func icmpMsg(src, dst netip.Addr, typ, code uint8, rest uint32, payload []byte) []byte {
	b := make([]byte, ICMPHeaderLen+len(payload))
	f := ICMPFields{Type: typ, Code: code, Rest: rest, Payload: payload}
	f.Encode(b, src, dst)
	return b
}

// icmpPacket is an IPv6 packet carrying an ICMPv6 message.
func icmpPacket(src, dst netip.Addr, typ, code uint8, rest uint32, payload []byte) []byte {
	return ipPacket(Fields{NextHeader: stack.ProtocolICMPv6, Src: src, Dst: dst}, icmpMsg(src, dst, typ, code, rest, payload))
}

// udpish is an 8-byte "transport header" plus data; the fake transport
// does not care about its contents.
func udpish(data string) []byte {
	return append([]byte{0x30, 0x39, 0x00, 0x35, 0, byte(8 + len(data)), 0, 0}, data...)
}

// ext builds an extension header: next header, length field from body
// (body is everything after the first two bytes and must make the
// header a multiple of 8 bytes).
func ext(next uint8, body ...byte) []byte {
	if (len(body)+2)%8 != 0 {
		panic("extension header not a multiple of 8 bytes")
	}
	return append([]byte{next, byte((len(body)+2)/8 - 1)}, body...)
}

// cat concatenates byte slices.
func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// decode decodes an IPv6 packet with gopacket, checking the ICMPv6
// checksum it carries (if any) by re-serialising.
func decode(t *testing.T, b []byte) (*layers.IPv6, *layers.ICMPv6) {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip == nil {
		t.Fatalf("gopacket: no IPv6 in % x: %v", b, pkt.ErrorLayer())
	}
	ic, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if ic != nil {
		want := ic.Checksum
		if err := ic.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ic, gopacket.Payload(ic.Payload)); err != nil {
			t.Fatal(err)
		}
		if ic.Checksum != want {
			t.Errorf("ICMPv6 checksum %#04x, gopacket computes %#04x", want, ic.Checksum)
		}
	}
	return ip, ic
}

// oneFrame returns the single frame the link sent, an IPv6 packet.
func oneFrame(t testing.TB, l *stacktest.Link) frame {
	t.Helper()
	return l.TakeOne(t, stack.EtherTypeIPv6)
}
