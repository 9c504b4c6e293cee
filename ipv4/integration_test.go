package ipv4_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// errTransport forwards the errors it receives to a channel.
type errTransport struct {
	errs chan stack.TransportError
	pkts chan []byte
}

func (t *errTransport) Number() uint8 { return stack.ProtocolUDP }
func (t *errTransport) HandlePacket(p *stack.Packet) bool {
	t.pkts <- append([]byte(nil), p.Bytes()...)
	p.Release()
	return true
}
func (t *errTransport) HandleError(e stack.TransportError) {
	e.Transport = append([]byte(nil), e.Transport...)
	t.errs <- e
}

// newHost wires a stack with ipv4 and the real arp over one end of a pipe.
func newHost(t *testing.T, d link.Device, mac stack.MAC, addr string, tr stack.TransportProtocol) *stack.Stack {
	t.Helper()
	s := stack.New(stack.Options{})
	if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := arp.Register(s, arp.Options{}); err != nil {
		t.Fatal(err)
	}
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
	return s
}

// TestTwoStacks sends a datagram from A to B over real Ethernet framing and
// ARP; B has no UDP, so A's transport hears protocol unreachable, quoting
// its datagram. Then B gets UDP and the datagram arrives.
func TestTwoStacks(t *testing.T) {
	live := stack.LivePackets()
	da, db := link.Pipe(1500)
	ta := &errTransport{errs: make(chan stack.TransportError, 4), pkts: make(chan []byte, 4)}
	a := newHost(t, da, stack.MAC{2, 0, 0, 0, 0, 1}, "10.0.0.1/24", ta)
	tb := &errTransport{errs: make(chan stack.TransportError, 4), pkts: make(chan []byte, 4)}
	b := newHost(t, db, stack.MAC{2, 0, 0, 0, 0, 2}, "10.0.0.2/24", nil)

	send := func(data []byte) {
		r, err := a.FindRoute(netip.MustParseAddr("10.0.0.2"), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		p := stack.NewPacket(stack.Headroom, len(data))
		copy(p.Bytes(), data)
		if err := r.WritePacket(stack.NetworkParams{Protocol: stack.ProtocolUDP}, p); err != nil {
			t.Fatal(err)
		}
	}
	dgram := []byte{0x30, 0x39, 0, 53, 0, 12, 0, 0, 'p', 'i', 'n', 'g'}
	send(dgram)
	select {
	case e := <-ta.errs:
		if e.Kind != stack.ErrorProtocolUnreachable || e.Src != netip.MustParseAddr("10.0.0.1") ||
			e.Dst != netip.MustParseAddr("10.0.0.2") || !bytes.Equal(e.Transport, dgram[:8]) {
			t.Errorf("error %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no protocol unreachable within 10s")
	}

	if err := b.RegisterTransport(tb); err != nil {
		t.Fatal(err)
	}
	send(dgram)
	select {
	case got := <-tb.pkts:
		if !bytes.Equal(got, dgram) {
			t.Errorf("B received % x", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B received nothing within 10s")
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
