package tcp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// fixedResolver sends every unicast IPv6 packet to the peer's MAC: the
// pipe has one neighbour, and Neighbour Discovery is another package.
type fixedResolver struct{ mac stack.MAC }

func (r fixedResolver) WriteTo(nic *stack.NIC, _ netip.Addr, et uint16, p *stack.Packet) error {
	return nic.WriteLinkPacket(r.mac, et, p)
}

// dualPipe returns two dual-stack stacks with the real ipv4, arp, ipv6
// and Ethernet layers joined by link.Pipe: A is 10.0.0.1 and fd00::1, B
// 10.0.0.2 and fd00::2.
func dualPipe(t *testing.T) (a, b *stack.Stack) {
	t.Helper()
	da, db := link.Pipe(1500)
	macA, macB := stack.MAC{2, 0, 0, 0, 0, 1}, stack.MAC{2, 0, 0, 0, 0, 2}
	mk := func(d link.Device, mac, peer stack.MAC, v4, v6 string) *stack.Stack {
		s := stack.New(stack.Options{})
		t.Cleanup(func() { s.Close() })
		if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := arp.Register(s, arp.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ipv6.Register(s, ipv6.Options{}); err != nil {
			t.Fatal(err)
		}
		s.SetResolver(stack.EtherTypeIPv6, fixedResolver{peer})
		if _, err := tcp.Register(s, tcp.Options{}); err != nil {
			t.Fatal(err)
		}
		nic, err := s.AddNIC("eth0", link.NewEthernet(d, mac))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{v4, v6} {
			if err := nic.AddAddress(netip.MustParsePrefix(p)); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	a = mk(da, macA, macB, "10.0.0.1/24", "fd00::1/64")
	b = mk(db, macB, macA, "10.0.0.2/24", "fd00::2/64")
	return a, b
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPipeIPv6Transfer: over the real IPv6 layer and Ethernet framing, a
// connection to [fd00::2]:8080 carries 4 MiB one way and 3 MiB the other
// at the same time, byte-exact (SHA-256).
func TestPipeIPv6Transfer(t *testing.T) {
	a, b := dualPipe(t)
	ln, err := tcp.ListenNetwork(b, "tcp6", netip.MustParseAddrPort("[::]:8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan *tcp.Conn, 1)
	go func() { c, _ := ln.AcceptTCP(); acc <- c }()
	c, err := tcp.Dial(ctx30(t), a, netip.MustParseAddrPort("[fd00::2]:8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	defer s.Close()
	if s.RemoteAddr().String() != c.LocalAddr().String() || c.RemoteAddr().String() != "[fd00::2]:8080" {
		t.Errorf("addresses: client %v -> %v, server sees %v", c.LocalAddr(), c.RemoteAddr(), s.RemoteAddr())
	}
	mk := func(seed uint64, n int) []byte {
		r := rand.New(rand.NewPCG(seed, 1))
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		return p
	}
	up, down := mk(1, 4<<20), mk(2, 3<<20)
	errc := make(chan error, 4)
	send := func(c *tcp.Conn, p []byte) {
		_, err := c.Write(p)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}
	recv := func(c *tcp.Conn, want []byte) {
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err == nil && (n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sum(want))) {
			err = errors.New("received data differs")
		}
		errc <- err
	}
	go send(c, up)
	go send(s, down)
	go recv(s, up)
	go recv(c, down)
	for range 4 {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("transfer did not finish in 60s") // failure guard only
		}
	}
}

func sum(p []byte) []byte { h := sha256.Sum256(p); return h[:] }

// TestPipeDualStackListener: one listener on ":8080" over the real layers
// takes an IPv4 and an IPv6 connection; a closed IPv6 port answers with a
// RST (ECONNREFUSED), as does an IPv6-only listener's port to IPv4.
func TestPipeDualStackListener(t *testing.T) {
	a, b := dualPipe(t)
	ln, err := tcp.Listen(b, netip.AddrPortFrom(netip.Addr{}, 8080))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() != "[::]:8080" {
		t.Errorf("listener %v", ln.Addr())
	}
	for _, dst := range []string{"10.0.0.2:8080", "[fd00::2]:8080"} {
		acc := make(chan *tcp.Conn, 1)
		go func() { c, _ := ln.AcceptTCP(); acc <- c }()
		c, err := tcp.Dial(ctx30(t), a, netip.MustParseAddrPort(dst))
		if err != nil {
			t.Fatalf("dial %s: %v", dst, err)
		}
		s := <-acc
		if s == nil || s.LocalAddr().String() != dst {
			t.Fatalf("dial %s: accepted %v", dst, s)
		}
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("%s: read %q %v", dst, buf, err)
		}
		c.Close()
		s.Close()
	}
	rst := b.Counters().Value("tcp.tx.rst")
	if _, err := tcp.Dial(ctx30(t), a, netip.MustParseAddrPort("[fd00::2]:9")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial of a closed IPv6 port: %v, want ECONNREFUSED", err)
	}
	if b.Counters().Value("tcp.tx.rst") <= rst {
		t.Error("B sent no RST")
	}
	l6, err := tcp.ListenNetwork(b, "tcp6", netip.AddrPortFrom(netip.Addr{}, 8081))
	if err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	if _, err := tcp.Dial(ctx30(t), a, netip.MustParseAddrPort("10.0.0.2:8081")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("IPv4 dial of an IPv6-only port: %v, want ECONNREFUSED", err)
	}
}
