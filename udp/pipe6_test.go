package udp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// fixedResolver sends every unicast IPv6 packet to the peer's MAC (the
// pipe has one neighbour; Neighbour Discovery is another package).
type fixedResolver struct{ mac stack.MAC }

func (r fixedResolver) WriteTo(nic *stack.NIC, _ netip.Addr, et uint16, p *stack.Packet) error {
	return nic.WriteLinkPacket(r.mac, et, p)
}

// realPair6 returns two stacks with the real ipv4 and ipv6 layers and
// Ethernet framing joined by link.Pipe: fd00::1 and fd00::2 (and 10.0.0.1
// and 10.0.0.2 without ARP: IPv4 is there only to be dual-stack).
func realPair6(t *testing.T) (a, b *stack.Stack) {
	t.Helper()
	checkLeaks(t)
	da, db := link.Pipe(1500)
	macA, macB := stack.MAC{2, 0, 0, 0, 0, 1}, stack.MAC{2, 0, 0, 0, 0, 2}
	mk := func(d link.Device, mac, peer stack.MAC, v6 string) *stack.Stack {
		s := stack.New(stack.Options{})
		t.Cleanup(func() { s.Close() })
		if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ipv6.Register(s, ipv6.Options{}); err != nil {
			t.Fatal(err)
		}
		s.SetResolver(stack.EtherTypeIPv6, fixedResolver{peer})
		if _, err := udp.Register(s, udp.Options{}); err != nil {
			t.Fatal(err)
		}
		nic, err := s.AddNIC("eth0", link.NewEthernet(d, mac))
		if err != nil {
			t.Fatal(err)
		}
		if err := nic.AddAddress(netip.MustParsePrefix(v6)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a = mk(da, macA, macB, "fd00::1/64")
	b = mk(db, macB, macA, "fd00::2/64")
	return a, b
}

// TestOverRealIPv6 runs datagrams through the real IPv6 layer: small ones,
// ones that ipv6 fragments and reassembles, the largest IPv6 payload, an
// echo back to the sender, and a closed port whose ICMPv6 port unreachable
// comes back as ECONNREFUSED.
func TestOverRealIPv6(t *testing.T) {
	a, b := realPair6(t)
	srv := mustListen(t, b, "[::]:7")
	cli := mustDial(t, a, "[fd00::2]:7")
	deadline := time.Now().Add(guard) // failure guard only
	srv.SetDeadline(deadline)
	cli.SetDeadline(deadline)
	buf := make([]byte, udp.MaxPayload6)
	for _, size := range []int{0, 1, 1452, 1453, 8000, udp.MaxPayload6} {
		msg := bytes.Repeat([]byte{byte(size), 0x5a, 0xa5}, size/3+1)[:size]
		if _, err := cli.Write(msg); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		n, m, err := srv.ReadMsg(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || m.From != cli.LocalAddrPort() || m.To.String() != "[fd00::2]:7" {
			t.Fatalf("%d bytes: read %d from %v to %v, %v", size, n, m.From, m.To, err)
		}
		if _, err := srv.WriteToUDPAddrPort(buf[:n], m.From); err != nil {
			t.Fatal(err)
		}
		if n, err := cli.Read(buf); err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("%d bytes: echo %d, %v", size, n, err)
		}
	}
	if got := cli.LocalAddr().String(); got[:9] != "[fd00::1]" {
		t.Errorf("LocalAddr %s", got)
	}

	closed := mustDial(t, a, "[fd00::2]:9")
	closed.SetDeadline(deadline)
	if _, err := closed.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	if _, err := closed.Read(buf); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("read after a send to a closed port: %v, want ECONNREFUSED", err)
	}
}
