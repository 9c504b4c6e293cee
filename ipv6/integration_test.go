package ipv6_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// fixedResolver sends every unicast IPv6 packet to one MAC (Neighbour
// Discovery is another package).
type fixedResolver struct{ mac stack.MAC }

func (r fixedResolver) WriteTo(nic *stack.NIC, _ netip.Addr, et uint16, p *stack.Packet) error {
	return nic.WriteLinkPacket(r.mac, et, p)
}

// chanTransport hands what it receives to channels.
type chanTransport struct {
	errs chan stack.TransportError
	pkts chan []byte
}

func (t *chanTransport) Number() uint8 { return stack.ProtocolUDP }
func (t *chanTransport) HandlePacket(p *stack.Packet) bool {
	t.pkts <- append([]byte(nil), p.Bytes()...)
	p.Release()
	return true
}
func (t *chanTransport) HandleError(e stack.TransportError) {
	e.Transport = append([]byte(nil), e.Transport...)
	t.errs <- e
}

func newHost6(t *testing.T, d link.Device, mac, peer stack.MAC, addr string, tr stack.TransportProtocol) (*stack.Stack, *ipv6.Protocol) {
	t.Helper()
	s := stack.New(stack.Options{})
	ip, err := ipv6.Register(s, ipv6.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.SetResolver(stack.EtherTypeIPv6, fixedResolver{peer})
	if tr != nil {
		if err := s.RegisterTransport(tr); err != nil {
			t.Fatal(err)
		}
	}
	nic, err := s.AddNIC("eth0", link.NewEthernet(d, mac))
	if err != nil {
		t.Fatal(err)
	}
	if err := nic.AddAddress(netip.MustParsePrefix(addr)); err != nil {
		t.Fatal(err)
	}
	return s, ip
}

// TestTwoStacks sends a 4000-byte datagram from A to B over real Ethernet
// framing: fragmented by A, reassembled by B. Without a UDP transport B
// answers a parameter problem (unknown next header), which reaches A's
// transport as protocol unreachable; then B gets UDP and the datagram
// arrives whole. A ping from A is answered by B.
func TestTwoStacks(t *testing.T) {
	live := stack.LivePackets()
	da, db := link.Pipe(1500)
	macA, macB := stack.MAC{2, 0, 0, 0, 0, 1}, stack.MAC{2, 0, 0, 0, 0, 2}
	ta := &chanTransport{errs: make(chan stack.TransportError, 4), pkts: make(chan []byte, 4)}
	a, _ := newHost6(t, da, macA, macB, "fd00::1/64", ta)
	tb := &chanTransport{errs: make(chan stack.TransportError, 4), pkts: make(chan []byte, 4)}
	b, _ := newHost6(t, db, macB, macA, "fd00::2/64", nil)
	addrA, addrB := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")

	send := func(proto uint8, data []byte) {
		r, err := a.FindRoute(addrB, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		p := stack.NewPacket(stack.Headroom, len(data))
		copy(p.Bytes(), data)
		if err := r.WritePacket(stack.NetworkParams{Protocol: proto}, p); err != nil {
			t.Fatal(err)
		}
	}
	dgram := make([]byte, 4000)
	copy(dgram, []byte{0x30, 0x39, 0, 53, 0x0f, 0xa0, 0, 0})
	for i := 8; i < len(dgram); i++ {
		dgram[i] = byte(i)
	}
	send(stack.ProtocolUDP, dgram)
	select {
	case e := <-ta.errs:
		if e.Kind != stack.ErrorProtocolUnreachable || e.Src != addrA || e.Dst != addrB || !bytes.Equal(e.Transport[:8], dgram[:8]) {
			t.Errorf("error %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no parameter problem within 10s")
	}

	if err := b.RegisterTransport(tb); err != nil {
		t.Fatal(err)
	}
	send(stack.ProtocolUDP, dgram)
	select {
	case got := <-tb.pkts:
		if !bytes.Equal(got, dgram) {
			t.Errorf("B received %d bytes, not the datagram", len(got))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B received nothing within 10s")
	}
	if n := b.Counters().Value("ipv6.frag.ok"); n != 2 {
		t.Errorf("B reassembled %d datagrams, want 2", n)
	}

	echo := make([]byte, 8+1000)
	f := ipv6.ICMPFields{Type: ipv6.ICMPEchoRequest, Rest: ipv6.EchoRest(1, 1)}
	f.Encode(echo, addrA, addrB)
	send(stack.ProtocolICMPv6, echo)
	deadline := time.Now().Add(10 * time.Second)
	for a.Counters().Value("icmpv6.rx.echo_reply") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no echo reply within 10s")
		}
		time.Sleep(time.Millisecond) // polling with a bounded deadline
	}

	if err := a.Close(); err != nil {
		t.Error(err)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	if n := stack.LivePackets(); n != live {
		t.Errorf("leak: %d live packets, want %d", n, live)
	}
}
