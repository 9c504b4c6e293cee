package ipv4

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/stacktest"
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

// frame is one packet a link was asked to send.
type frame = stacktest.Frame

// newLink is a recording link at ourMAC with the given MTU.
func newLink(mtu int) *stacktest.Link { return stacktest.NewLink(ourMAC, mtu) }

// env is a stack with one NIC (10.0.0.2/24 on a recording link), ipv4 and
// a recording UDP transport (protocol 17).
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
	stacktest.CheckLeaks(tb)
	e := &env{link: newLink(1500), udp: stacktest.NewTransport(stack.ProtocolUDP), clock: vclock.New(time.Unix(1_000_000, 0))}
	e.s = stack.New(stack.Options{Clock: e.clock})
	var err error
	if e.pr, err = Register(e.s, opts); err != nil {
		tb.Fatal(err)
	}
	e.s.SetResolver(stack.EtherTypeIPv4, stacktest.Resolver{MAC: peerMAC})
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
		stacktest.CloseStack(tb, e.s, e.pr.loop.Done()) // the loopback goroutine stops
	})
	return e
}

// count returns a counter value.
func (e *env) count(name string) uint64 { return e.s.Counters().Value(name) }

// inject delivers an IPv4 packet as if it arrived on the NIC from peerMAC.
func (e *env) inject(b []byte, linkDst stack.MAC) {
	stacktest.Deliver(e.nic, stack.EtherTypeIPv4, peerMAC, linkDst, b)
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
