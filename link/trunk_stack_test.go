package link_test

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// protoTest is an IP protocol number for experiments (RFC 3692).
const protoTest = 253

// arrival is one packet the fake transport received.
type arrival struct {
	nic      string
	src, dst netip.Addr
	data     string
}

// recTransport is a transport for protoTest that records what arrives.
type recTransport struct{ c chan arrival }

func (r recTransport) Number() uint8 { return protoTest }
func (r recTransport) HandlePacket(p *stack.Packet) bool {
	r.c <- arrival{p.NIC.Name(), p.Src, p.Dst, string(p.Bytes())}
	p.Release()
	return true
}
func (r recTransport) HandleError(stack.TransportError) {}

// tagLog is a Device decorator that records the VLAN tag (VID, PCP, or -1
// for untagged) and inner EtherType of every frame it receives.
type tagLog struct {
	link.Device
	mu  sync.Mutex
	log []tagSeen
}

type tagSeen struct {
	vid       int
	pcp       uint8
	etherType uint16
}

func (l *tagLog) Attach(d link.FrameDispatcher) {
	l.Device.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		if f, err := link.ParseFrame(p.Bytes()); err == nil {
			s := tagSeen{vid: -1, etherType: f.EtherType}
			if f.NumTags > 0 {
				s.vid, s.pcp = int(f.Tags[0].VID), f.Tags[0].PCP
			}

			l.mu.Lock()
			l.log = append(l.log, s)
			l.mu.Unlock()
		}
		d.DeliverFrame(p)
	}))
}

func (l *tagLog) seen() []tagSeen {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tagSeen(nil), l.log...)
}

type trunkHost struct {
	s   *stack.Stack
	arp *arp.Protocol
	rx  chan arrival
	dev *tagLog
}

// newTrunkHost builds a stack with the real arp and ipv4 on a trunk over d
// with NICs "vlan10" (PCP pcp10) and "vlan20" at 10.0.10.host/24 and
// 10.0.20.host/24.
func newTrunkHost(t *testing.T, d link.Device, mac stack.MAC, host byte, pcp10 uint8) *trunkHost {
	t.Helper()
	h := &trunkHost{s: stack.New(stack.Options{}), rx: make(chan arrival, 16), dev: &tagLog{Device: d}}
	var err error
	if h.arp, err = arp.Register(h.s, arp.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ipv4.Register(h.s, ipv4.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.RegisterTransport(recTransport{h.rx}); err != nil {
		t.Fatal(err)
	}
	// Create every endpoint before the first is attached, so no frame
	// arrives for a VLAN not created yet.
	tr := link.NewTrunk(h.dev, mac)
	v10, err := tr.VLAN(10, pcp10)
	if err != nil {
		t.Fatal(err)
	}
	v20, err := tr.VLAN(20, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		vid uint16
		ep  stack.LinkEndpoint
	}{{10, v10}, {20, v20}} {
		nic, err := h.s.AddNIC("vlan"+itoa(int(v.vid)), v.ep)
		if err != nil {
			t.Fatal(err)
		}
		if err := nic.AddAddress(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(v.vid), host}), 24)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// send writes data to dst in a protoTest packet.
func (h *trunkHost) send(t *testing.T, dst netip.Addr, data string) {
	t.Helper()
	r, err := h.s.FindRoute(dst, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	p := stack.NewPacket(stack.Headroom, len(data))
	copy(p.Bytes(), data)
	if err := r.WritePacket(stack.NetworkParams{Protocol: protoTest}, p); err != nil {
		t.Fatal(err)
	}
}

// ping sends an ICMP echo request to dst.
func (h *trunkHost) ping(t *testing.T, dst netip.Addr) {
	t.Helper()
	r, err := h.s.FindRoute(dst, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	p := stack.NewPacket(stack.Headroom, 8+4)
	b := p.Bytes()
	b[0], b[1], b[2], b[3] = ipv4.ICMPEcho, 0, 0, 0
	binary.BigEndian.PutUint32(b[4:], ipv4.EchoRest(7, 1))
	copy(b[8:], "ping")
	binary.BigEndian.PutUint16(b[2:], checksum.Checksum(b, 0))
	if err := r.WritePacket(stack.NetworkParams{Protocol: stack.ProtocolICMP}, p); err != nil {
		t.Fatal(err)
	}
}

func (h *trunkHost) recv(t *testing.T) arrival {
	t.Helper()
	select {
	case a := <-h.rx:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("nothing arrived")
		return arrival{}
	}
}

// waitCounter waits until the named counter reaches want. The echo reply
// has no hook to wait on, so it polls (yielding, no sleep); the deadline is
// a failure guard, not a timing assertion.
func waitCounter(t *testing.T, s *stack.Stack, name string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.Counters().Value(name) < want {
		if time.Now().After(deadline) {
			for _, c := range s.Counters().Snapshot() {
				if c.Value != 0 {
					t.Log(c.Name, c.Value)
				}
			}
			t.Fatalf("%s = %d, want %d", name, s.Counters().Value(name), want)
		}
		runtime.Gosched()
	}
}

// TestTrunkTwoStacks joins two stacks (real arp and ipv4) by one Pipe
// carrying VLANs 10 and 20: each VLAN reaches the other side's NIC of the
// same VLAN only, replies are tagged with the replier's VID and PCP, and
// the full MTU fits in a tagged frame.
func TestTrunkTwoStacks(t *testing.T) {
	start := stack.LivePackets()
	da, db := link.Pipe(1500)
	macA := stack.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB := stack.MAC{0x02, 0, 0, 0, 0, 0x0b}
	a := newTrunkHost(t, da, macA, 1, 0)
	b := newTrunkHost(t, db, macB, 2, 6)

	ip := netip.MustParseAddr
	for _, tc := range []struct {
		dst, src netip.Addr
		nic      string
		data     string
	}{
		{ip("10.0.10.2"), ip("10.0.10.1"), "vlan10", "hello vlan 10"},
		{ip("10.0.20.2"), ip("10.0.20.1"), "vlan20", "hello vlan 20"},
		{ip("10.0.10.2"), ip("10.0.10.1"), "vlan10", string(make([]byte, 1480))}, // 1500-byte IP packet
	} {
		a.send(t, tc.dst, tc.data)
		got := b.recv(t)
		if got.nic != tc.nic || got.src != tc.src || got.dst != tc.dst || got.data != tc.data {
			t.Fatalf("b received %d bytes from %v to %v on %s, want on %s from %v to %v", len(got.data), got.src, got.dst, got.nic, tc.nic, tc.src, tc.dst)
		}
	}
	if n := b.s.Counters().Value("ipv4.rx.fragments"); n != 0 {
		t.Errorf("b received %d fragments; the 1500-byte packet should fit a tagged frame", n)
	}
	// b answers on each VLAN (ARP learnt from a's requests).
	b.send(t, ip("10.0.20.1"), "back on 20")
	if got := a.recv(t); got.nic != "vlan20" || got.data != "back on 20" {
		t.Fatalf("a received %+v", got)
	}
	b.send(t, ip("10.0.10.1"), "back on 10")
	if got := a.recv(t); got.nic != "vlan10" || got.data != "back on 10" {
		t.Fatalf("a received %+v", got)
	}
	// ICMP echo through b's ipv4 on each VLAN.
	a.ping(t, ip("10.0.10.2"))
	a.ping(t, ip("10.0.20.2"))
	waitCounter(t, b.s, "icmp.rx.echo_request", 2)
	waitCounter(t, a.s, "icmp.rx.echo_reply", 2)

	// Every frame a received from b is tagged with the VLAN of b's NIC and
	// its PCP (6 on VLAN 10, 0 on VLAN 20); nothing is untagged.
	seen := a.dev.seen()
	if len(seen) == 0 {
		t.Fatal("a's device saw no frames")
	}
	for _, s := range seen {
		if (s.vid != 10 || s.pcp != 6) && (s.vid != 20 || s.pcp != 0) {
			t.Errorf("a received a frame with tag %+v", s)
		}
	}
	for _, s := range b.dev.seen() {
		if (s.vid != 10 && s.vid != 20) || s.pcp != 0 {
			t.Errorf("b received a frame with tag %+v", s)
		}
	}

	// Isolation: a reaches 10.0.20.2 through VLAN 10 (a host route on the
	// wrong VLAN). b's VLAN 10 NIC does not have that address, so nobody
	// answers, and b's VLAN 20 never sees the request.
	if err := a.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("10.0.20.2/32"), NIC: a.s.NIC("vlan10")}); err != nil {
		t.Fatal(err)
	}
	replies := b.s.Counters().Value("arp.tx.replies")
	a.send(t, ip("10.0.20.2"), "leak?")
	// A marker on VLAN 10 after the request: once it arrives, b handled
	// the request (the pipe delivers in order).
	a.send(t, ip("10.0.10.2"), "marker")
	if got := b.recv(t); got.data != "marker" || got.nic != "vlan10" {
		t.Fatalf("b received %+v, want the marker on vlan10", got)
	}
	if n := b.s.Counters().Value("arp.tx.replies"); n != replies {
		t.Errorf("b answered a request for its VLAN 20 address on VLAN 10 (%d replies, had %d)", n, replies)
	}
	for _, e := range b.arp.Entries() {
		want := "vlan" + itoa(int(e.Addr.As4()[2]))
		if e.NIC != want {
			t.Errorf("b has a neighbour %v on %s, want on %s", e.Addr, e.NIC, want)
		}
	}
	for _, e := range a.arp.Entries() {
		if e.Addr == ip("10.0.20.2") && e.NIC == "vlan10" && e.State.String() != "INCOMPLETE" {
			t.Errorf("a resolved 10.0.20.2 across VLANs: %+v", e)
		}
	}
	for _, h := range []*trunkHost{a, b} {
		for _, name := range []string{link.CounterRxVLANUnknown, link.CounterRxQinQDropped, link.CounterRxNoNative, link.CounterRxMalformed, "icmp.rx.bad_checksum"} {
			if n := h.s.Counters().Value(name); n != 0 {
				t.Errorf("%s = %d", name, n)
			}
		}
	}
	a.s.Close()
	b.s.Close()
	select {
	case got := <-b.rx:
		t.Errorf("b received %+v across VLANs", got)
	default:
	}
	if n := stack.LivePackets() - start; n != 0 {
		t.Errorf("%d packets leaked", n)
	}
}
