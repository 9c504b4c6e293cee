package udp_test

import (
	"bytes"
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// realPair returns two stacks with the real ipv4, arp and Ethernet layers
// joined by link.Pipe, 10.0.0.1 and 10.0.0.2, on the wall clock.
func realPair(t *testing.T) (a, b *stack.Stack) {
	t.Helper()
	checkLeaks(t)
	da, db := link.Pipe(1500)
	mk := func(d link.Device, mac stack.MAC, addr string) *stack.Stack {
		s := stack.New(stack.Options{})
		t.Cleanup(func() { s.Close() })
		if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := arp.Register(s, arp.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := udp.Register(s, udp.Options{}); err != nil {
			t.Fatal(err)
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
	a = mk(da, stack.MAC{2, 0, 0, 0, 0, 1}, "10.0.0.1/24")
	b = mk(db, stack.MAC{2, 0, 0, 0, 0, 2}, "10.0.0.2/24")
	return a, b
}

// TestOverRealIPv4 runs datagrams through the real IP layer: small ones,
// ones that ipv4 fragments and reassembles, a broadcast, and a closed port
// whose ICMP port unreachable comes back as ECONNREFUSED.
func TestOverRealIPv4(t *testing.T) {
	a, b := realPair(t)
	srv := mustListen(t, b, "0.0.0.0:7")
	cli := mustDial(t, a, "10.0.0.2:7")
	deadline := time.Now().Add(guard) // failure guard only
	srv.SetDeadline(deadline)
	cli.SetDeadline(deadline)
	buf := make([]byte, udp.MaxPayload)
	for _, size := range []int{0, 1, 1472, 1473, 8000, udp.MaxPayload} {
		msg := bytes.Repeat([]byte{byte(size), 0x5a, 0xa5}, size/3+1)[:size]
		if _, err := cli.Write(msg); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from != cli.LocalAddrPort() {
			t.Fatalf("%d bytes: read %d from %v, %v", size, n, from, err)
		}
	}

	bc := mustListen(t, a, "0.0.0.0:0")
	bc.SetBroadcast(true)
	if _, err := bc.WriteToUDPAddrPort([]byte("hello all"), netip.MustParseAddrPort("255.255.255.255:7")); err != nil {
		t.Fatal(err)
	}
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "hello all" || from.Port() != bc.LocalAddrPort().Port() {
		t.Fatalf("broadcast: read %q from %v, %v", buf[:n], from, err)
	}

	closed, err := udp.Dial(context.Background(), a, netip.MustParseAddrPort("10.0.0.2:9"))
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close()
	closed.SetDeadline(deadline)
	if _, err := closed.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	_, err = closed.Read(buf)
	checkOpError(t, err, "read", syscall.ECONNREFUSED)
}
