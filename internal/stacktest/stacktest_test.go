package stacktest

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// Three hosts' link addresses.
var macA, macB, macC = hostMAC(0xa), hostMAC(0xb), hostMAC(0xc)

func hostMAC(b byte) stack.MAC { return stack.MAC{2, 0, 0, 0, 0, b} }

// inbox is a NetworkDispatcher that keeps what it is given.
type inbox struct{ got []*stack.Packet }

func (in *inbox) DeliverNetworkPacket(p *stack.Packet) { in.got = append(in.got, p) }

func TestLinkRecordsAndReleases(t *testing.T) {
	CheckLeaks(t)
	l := NewLink(macA, 1400)
	if l.MTU() != 1400 || l.LinkAddress() != macA {
		t.Fatalf("MTU %d, address %v", l.MTU(), l.LinkAddress())
	}
	p := stack.NewPacketFrom([]byte("one"))
	p.ChecksumPartial, p.GSOSize = true, 1448
	l.WritePacket(macB, stack.EtherTypeIPv4, p)
	l.WritePacket(stack.BroadcastMAC, stack.EtherTypeARP, stack.NewPacketFrom([]byte("two")))
	if l.Len() != 2 {
		t.Fatalf("Len %d, want 2", l.Len())
	}
	got := l.Take()
	want := []Frame{{macB, stack.EtherTypeIPv4, []byte("one"), true, 1448}, {stack.BroadcastMAC, stack.EtherTypeARP, []byte("two"), false, 0}}
	if len(got) != len(want) {
		t.Fatalf("took %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Dst != want[i].Dst || got[i].EtherType != want[i].EtherType || !bytes.Equal(got[i].Data, want[i].Data) ||
			got[i].ChecksumPartial != want[i].ChecksumPartial || got[i].GSOSize != want[i].GSOSize {
			t.Errorf("frame %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := len(l.Take()); n != 0 {
		t.Errorf("second Take returned %d frames", n)
	}
	l.SetDiscard(true)
	l.WritePacket(macB, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("dropped")))
	if l.Len() != 0 {
		t.Errorf("a discarding link recorded a frame")
	}
}

func TestLinkOffloads(t *testing.T) {
	l := NewLink(macA, 1500)
	s := stack.New(stack.Options{})
	defer s.Close()
	n, err := s.AddNIC("eth0", l)
	if err != nil {
		t.Fatal(err)
	}
	if g, c := n.Offloads(); g != 0 || c {
		t.Errorf("default offloads %d %v, want none", g, c)
	}
	l.SetOffloads(65535, true)
	if g, c := n.Offloads(); g != 65535 || !c {
		t.Errorf("offloads %d %v, want 65535 true", g, c)
	}
}

// TestLinkPeer: a connected peer gets frames for its address and group
// addresses, not those for a third host; the hook sees every frame first.
func TestLinkPeer(t *testing.T) {
	CheckLeaks(t)
	a, b := NewLink(macA, 1500), NewLink(macB, 1500)
	var inA, inB inbox
	a.Attach(&inA)
	b.Attach(&inB)
	Connect(a, b)
	var hooked []stack.MAC
	a.SetHook(func(f Frame) { hooked = append(hooked, f.Dst) })
	for _, dst := range []stack.MAC{macB, macC, stack.BroadcastMAC, stack.MulticastMAC(netip.MustParseAddr("224.0.0.1"))} {
		a.WritePacket(dst, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte{dst[5]}))
	}
	if len(hooked) != 4 || a.Len() != 4 {
		t.Errorf("hook saw %d frames, link recorded %d; want 4, 4", len(hooked), a.Len())
	}
	if len(inB.got) != 3 {
		t.Fatalf("peer got %d frames, want 3 (its own, broadcast, multicast)", len(inB.got))
	}
	for _, p := range inB.got {
		if p.LinkSrc != macA || p.EtherType != stack.EtherTypeIPv4 || p.LinkDst == macC {
			t.Errorf("delivered src %v dst %v type %#x", p.LinkSrc, p.LinkDst, p.EtherType)
		}
		p.Release()
	}
	b.SetMAC(macC)
	b.WritePacket(macA, stack.EtherTypeARP, stack.NewPacketFrom([]byte("back")))
	if len(inA.got) != 1 || inA.got[0].LinkSrc != macC {
		t.Fatalf("a got %d frames back, want 1 from %v", len(inA.got), macC)
	}
	inA.got[0].Release()
}

func TestTransport(t *testing.T) {
	CheckLeaks(t)
	tr := NewTransport(stack.ProtocolUDP)
	if tr.Number() != stack.ProtocolUDP {
		t.Fatalf("Number %d", tr.Number())
	}
	p := stack.NewPacketFrom([]byte("data"))
	p.Src, p.Dst, p.TTL, p.TOS, p.Protocol, p.ChecksumOK = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 63, 0xb8, stack.ProtocolUDP, true
	if !tr.HandlePacket(p) {
		t.Fatal("HandlePacket refused")
	}
	got := tr.TakePackets()
	if len(got) != 1 || got[0].Src != netip.MustParseAddr("10.0.0.1") || got[0].Dst != netip.MustParseAddr("10.0.0.2") ||
		got[0].TTL != 63 || got[0].TOS != 0xb8 || got[0].Protocol != stack.ProtocolUDP || !got[0].ChecksumOK || string(got[0].Data) != "data" {
		t.Fatalf("recorded %+v", got)
	}
	tr.SetRefuse(true)
	q := stack.NewPacketFrom([]byte("refused"))
	if tr.HandlePacket(q) {
		t.Fatal("a refusing transport took the packet")
	}
	q.Release() // still the caller's
	tr.SetRefuse(false)
	tr.SetDiscard(true)
	if !tr.HandlePacket(stack.NewPacketFrom([]byte("x"))) || len(tr.TakePackets()) != 0 {
		t.Error("a discarding transport recorded a packet")
	}
	b := []byte{1, 2, 3}
	tr.HandleError(stack.TransportError{Kind: stack.ErrorPortUnreachable, Transport: b})
	b[0] = 9
	if errs := tr.TakeErrors(); len(errs) != 1 || errs[0].Kind != stack.ErrorPortUnreachable || errs[0].Transport[0] != 1 {
		t.Errorf("errors %+v, want one port unreachable with its own copy of the bytes", errs)
	}
}

func TestResolverAndFailureLog(t *testing.T) {
	CheckLeaks(t)
	s := stack.New(stack.Options{})
	defer s.Close()
	l := NewLink(macA, 1500)
	nic, err := s.AddNIC("eth0", l)
	if err != nil {
		t.Fatal(err)
	}
	l.Take()
	if err := (Resolver{MAC: macB}).WriteTo(nic, netip.MustParseAddr("10.0.0.9"), stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if fs := l.Take(); len(fs) != 1 || fs[0].Dst != macB || fs[0].EtherType != stack.EtherTypeIPv4 {
		t.Errorf("resolver wrote %+v, want one IPv4 frame to %v", fs, macB)
	}

	fl := FailureLog{Notify: make(chan struct{}, 1)}
	fl.HandleResolutionFailure(nic, netip.MustParseAddr("10.0.0.9"), stack.NewPacketFrom([]byte("lost")))
	<-fl.Notify
	if fs := fl.TakeFailures(); len(fs) != 1 || fs[0].NextHop != netip.MustParseAddr("10.0.0.9") || string(fs[0].Data) != "lost" {
		t.Errorf("failures %+v", fs)
	}
}

func TestTakeOne(t *testing.T) {
	l := NewLink(macA, 1500)
	l.WritePacket(macB, stack.EtherTypeIPv6, stack.NewPacketFrom([]byte("only")))
	if f := l.TakeOne(t, stack.EtherTypeIPv6); string(f.Data) != "only" {
		t.Errorf("TakeOne = %+v", f)
	}
}

// TestCloseStack: a goroutine the stack should have stopped and did not
// fails the test.
func TestCloseStack(t *testing.T) {
	stopped, running := make(chan struct{}), make(chan struct{})
	close(stopped)
	var ft fakeTB
	CloseStack(&ft, stack.New(stack.Options{}), stopped)
	if ft.failed {
		t.Errorf("CloseStack failed with every goroutine stopped: %s", ft.msg)
	}
	CloseStack(&ft, stack.New(stack.Options{}), stopped, running)
	if !ft.failed {
		t.Error("CloseStack passed with a goroutine still running")
	}
}

// fakeTB records whether a helper failed the test.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
}
