package udp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// guard is the failure guard for anything a test waits for.
const guard = 20 * time.Second

func mustListen(t testing.TB, s *stack.Stack, addr string) *udp.Conn {
	t.Helper()
	c, err := udp.Listen(s, netip.MustParseAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustDial(t testing.TB, s *stack.Stack, addr string) *udp.Conn {
	t.Helper()
	c, err := udp.Dial(context.Background(), s, netip.MustParseAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResult is the outcome of a read run on another goroutine.
type readResult struct {
	n    int
	from netip.AddrPort
	err  error
}

func readAsync(c *udp.Conn, b []byte) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, from, err := c.ReadFromUDPAddrPort(b)
		ch <- readResult{n, from, err}
	}()
	return ch
}

func await(t testing.TB, ch <-chan readResult) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(guard):
		t.Fatal("read did not return")
		return readResult{}
	}
}

// checkOpError checks that err is a *net.OpError with the given Op whose
// cause matches want.
func checkOpError(t testing.TB, err error, op string, want error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not a *net.OpError", err, err)
	}
	if oe.Op != op || oe.Net != "udp" {
		t.Errorf("OpError Op=%q Net=%q, want %q udp", oe.Op, oe.Net, op)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %v is not %v", err, want)
	}
}

// TestExchange sends 10,000 datagrams from a connected client to a
// listening echo server and back, the reader running concurrently with the
// writer. The sender keeps at most window datagrams in flight, well under
// the receive buffer, so that no drop is allowed.
func TestExchange(t *testing.T) {
	const (
		count  = 10000
		window = 64
	)
	a, b := pair(t, nil, udp.Options{})
	srv := mustListen(t, b.s, "0.0.0.0:7")
	cli := mustDial(t, a.s, "10.0.0.2:7")

	srvDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for i := 0; i < count; i++ {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				srvDone <- err
				return
			}
			if from != cli.LocalAddrPort() {
				srvDone <- errors.New("datagram from " + from.String())
				return
			}
			if _, err := srv.WriteToUDPAddrPort(buf[:n], from); err != nil {
				srvDone <- err
				return
			}
		}
		srvDone <- nil
	}()

	tokens := make(chan struct{}, window)
	for i := 0; i < window; i++ {
		tokens <- struct{}{}
	}
	cliDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for i := 0; i < count; i++ {
			n, err := cli.Read(buf)
			if err != nil {
				cliDone <- err
				return
			}
			if n < 4 || int(binary.BigEndian.Uint32(buf)) != i || !bytes.Equal(buf[4:n], payloadFor(i)) {
				cliDone <- errors.New("echo out of order or corrupt")
				return
			}
			tokens <- struct{}{}
		}
		cliDone <- nil
	}()

	msg := make([]byte, 4, 4+300)
	timeout := time.After(guard)
	for i := 0; i < count; i++ {
		select {
		case <-tokens:
		case err := <-cliDone:
			t.Fatalf("client reader stopped after fewer than %d: %v", count, err)
		case <-timeout:
			t.Fatalf("stalled at datagram %d", i)
		}
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := cli.Write(append(msg[:4], payloadFor(i)...)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ch := range []chan error{srvDone, cliDone} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("exchange did not finish")
		}
	}
	for _, s := range []*stack.Stack{a.s, b.s} {
		if n := counter(s, "udp.rx.queue_full"); n != 0 {
			t.Errorf("udp.rx.queue_full = %d", n)
		}
		if n := counter(s, "udp.rx.delivered"); n != count {
			t.Errorf("udp.rx.delivered = %d, want %d", n, count)
		}
		if n := counter(s, "udp.tx.datagrams"); n != count {
			t.Errorf("udp.tx.datagrams = %d, want %d", n, count)
		}
	}
}

// payloadFor returns 0 to 299 bytes derived from i.
func payloadFor(i int) []byte {
	b := make([]byte, i%300)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

func TestLargeDatagram(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		bufSize int
		wantErr error
	}{
		{"8000 bytes", 8000, 9000, nil},
		{"8000 bytes into a short buffer", 8000, 100, nil},
		{"empty", 0, 10, nil},
		{"largest", udp.MaxPayload, udp.MaxPayload, nil},
		{"too large", udp.MaxPayload + 1, 0, syscall.EMSGSIZE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := pair(t, nil, udp.Options{})
			srv := mustListen(t, b.s, "10.0.0.2:9")
			cli := mustListen(t, a.s, "0.0.0.0:0")
			msg := make([]byte, tt.size)
			rng := rand.New(rand.NewPCG(1, uint64(tt.size)))
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			n, err := cli.WriteToUDPAddrPort(msg, srv.LocalAddrPort())
			if tt.wantErr != nil {
				checkOpError(t, err, "write", tt.wantErr)
				return
			}
			if err != nil || n != tt.size {
				t.Fatalf("WriteToUDPAddrPort = %d, %v", n, err)
			}
			buf := make([]byte, tt.bufSize)
			r := await(t, readAsync(srv, buf))
			want := min(tt.size, tt.bufSize)
			if r.err != nil || r.n != want {
				t.Fatalf("read %d, %v; want %d bytes", r.n, r.err, want)
			}
			if !bytes.Equal(buf[:r.n], msg[:want]) {
				t.Errorf("payload differs")
			}
			if r.from != netip.AddrPortFrom(a.addr, cli.LocalAddrPort().Port()) {
				t.Errorf("from %v", r.from)
			}
		})
	}
}

func TestHandlePacketDemux(t *testing.T) {
	a, b := pair(t, nil, udp.Options{})
	_ = a
	wild := mustListen(t, b.s, "0.0.0.0:53")
	spec := mustListen(t, b.s, "10.0.1.3:54")
	conn := mustDial(t, b.s, "10.0.0.1:1000")
	cport := conn.LocalAddrPort().Port()
	peer := netip.MustParseAddrPort("10.0.0.1:1000")
	stranger := netip.MustParseAddrPort("10.0.0.1:1001")
	ap := func(a string, port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(a), port) }

	tests := []struct {
		name    string
		src     netip.AddrPort
		dst     netip.AddrPort
		handled bool
		to      *udp.Conn
	}{
		{"wildcard on first address", stranger, ap("10.0.0.2", 53), true, wild},
		{"wildcard on second address", stranger, ap("10.0.1.3", 53), true, wild},
		{"bound address", stranger, ap("10.0.1.3", 54), true, spec},
		{"bound elsewhere", stranger, ap("10.0.0.2", 54), false, nil},
		{"connected peer", peer, ap("10.0.0.2", cport), true, conn},
		{"connected, other peer", stranger, ap("10.0.0.2", cport), false, nil},
		{"closed port", stranger, ap("10.0.0.2", 9), false, nil},
		{"limited broadcast to wildcard", stranger, ap("255.255.255.255", 53), true, wild},
		{"directed broadcast to wildcard", stranger, ap("10.0.0.255", 53), true, wild},
		{"broadcast, no endpoint", stranger, ap("255.255.255.255", 9), true, nil},
		{"broadcast, endpoint on unicast address", stranger, ap("10.0.0.255", 54), true, nil},
		{"multicast, no endpoint", stranger, ap("224.0.0.251", 5353), true, nil},
		{"multicast to wildcard", stranger, ap("224.0.0.251", 53), true, wild},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noPort := counter(b.s, "udp.rx.no_port")
			p := datagram(b.nic, tt.src, tt.dst, []byte(tt.name), -1)
			if got := b.udp.HandlePacket(p); got != tt.handled {
				t.Fatalf("HandlePacket = %v, want %v", got, tt.handled)
			}
			if !tt.handled {
				p.Release() // ownership stays with the caller
			}
			if tt.to == nil {
				if counter(b.s, "udp.rx.no_port") != noPort+1 {
					t.Errorf("udp.rx.no_port not counted")
				}
				return
			}
			buf := make([]byte, 100)
			n, m, err := tt.to.ReadMsg(buf)
			if err != nil || string(buf[:n]) != tt.name || m.From != tt.src {
				t.Errorf("read %q from %v, %v", buf[:n], m.From, err)
			}
			// IP_PKTINFO: the destination as sent, and whether it reached
			// many hosts (what echo services check, the fraggle rule).
			group := tt.dst.Addr().IsMulticast() || b.nic.IsBroadcast(tt.dst.Addr())
			if m.To != tt.dst || m.Group != group {
				t.Errorf("ReadMsg: to %v group %v, want %v group %v", m.To, m.Group, tt.dst, group)
			}
		})
	}
}

func TestHandlePacketDrops(t *testing.T) {
	_, b := pair(t, nil, udp.Options{})
	c := mustListen(t, b.s, "0.0.0.0:53")
	src, dst := netip.MustParseAddrPort("10.0.0.1:999"), netip.MustParseAddrPort("10.0.0.2:53")
	good := datagram(nil, src, dst, []byte("abcdef"), -1)
	raw := append([]byte(nil), good.Bytes()...)
	good.Release()
	wrongSum := binary.BigEndian.Uint16(raw[6:]) ^ 0x1234

	tests := []struct {
		name      string
		b         []byte
		csumOK    bool
		delivered string
		counter   string
	}{
		{"good", raw, false, "abcdef", "udp.rx.delivered"},
		{"bad checksum", withChecksum(raw, wrongSum), false, "", "udp.rx.bad_checksum"},
		{"bad checksum, device verified", withChecksum(raw, wrongSum), true, "abcdef", "udp.rx.delivered"},
		{"zero checksum", withChecksum(raw, 0), false, "abcdef", "udp.rx.delivered"},
		{"corrupt payload", append(raw[:len(raw)-1:len(raw)-1], 'X'), false, "", "udp.rx.bad_checksum"},
		{"too short", raw[:7], false, "", "udp.rx.malformed"},
		{"length beyond data", raw[:len(raw)-1], false, "", "udp.rx.malformed"},
		{"length below header", withLength(raw, 7), false, "", "udp.rx.malformed"},
		{"trailing padding trimmed", append(append([]byte(nil), raw...), 0, 0, 0, 0), false, "abcdef", "udp.rx.delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(b.s, tt.counter)
			p := stack.NewPacketFrom(tt.b)
			p.Src, p.Dst, p.NIC, p.ChecksumOK = src.Addr(), dst.Addr(), b.nic, tt.csumOK
			if !b.udp.HandlePacket(p) {
				t.Fatal("HandlePacket = false; want the packet taken")
			}
			if got := counter(b.s, tt.counter); got != before+1 {
				t.Errorf("%s = %d, want %d", tt.counter, got, before+1)
			}
			if tt.delivered == "" {
				if q := queued(b.udp, c); q != 0 {
					t.Errorf("%d bytes queued after a drop", q)
				}
				return
			}
			buf := make([]byte, 100)
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != tt.delivered {
				t.Errorf("read %q, %v; want %q", buf[:n], err, tt.delivered)
			}
		})
	}
}

func withChecksum(b []byte, c uint16) []byte {
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint16(b[6:], c)
	return b
}

func withLength(b []byte, l uint16) []byte {
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint16(b[4:], l)
	return b
}

// queued reports the receive-queue usage of c.
func queued(u *udp.Protocol, c *udp.Conn) int {
	for _, e := range u.Endpoints() {
		if e.Local == c.LocalAddrPort() && e.Remote == c.RemoteAddrPort() {
			return e.Queued
		}
	}
	return -1
}

func TestQueueFull(t *testing.T) {
	_, b := pair(t, nil, udp.Options{})
	c := mustListen(t, b.s, "0.0.0.0:53")
	// 2000 bytes hold one 1000-byte datagram (plus overhead) but not two.
	if err := c.SetReadBuffer(2000); err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("10.0.0.1:999"), netip.MustParseAddrPort("10.0.0.2:53")
	for i := 0; i < 5; i++ {
		p := datagram(b.nic, src, dst, bytes.Repeat([]byte{byte(i)}, 1000), -1)
		if !b.udp.HandlePacket(p) {
			t.Fatal("HandlePacket = false")
		}
	}
	if n := counter(b.s, "udp.rx.queue_full"); n != 4 {
		t.Errorf("udp.rx.queue_full = %d, want 4", n)
	}
	buf := make([]byte, 2000)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || n != 1000 || buf[0] != 0 {
		t.Fatalf("read %d bytes starting %d, %v; want the first datagram", n, buf[0], err)
	}
	if q := queued(b.udp, c); q != 0 {
		t.Errorf("queue holds %d bytes after reading everything", q)
	}
	// Room again: the next one is queued.
	if !b.udp.HandlePacket(datagram(b.nic, src, dst, []byte("again"), -1)) {
		t.Fatal("HandlePacket = false")
	}
	if n, _, err := c.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "again" {
		t.Errorf("read %q, %v", buf[:n], err)
	}
}

func TestBind(t *testing.T) {
	tests := []struct {
		name  string
		first string
		next  string
		want  error
	}{
		{"same address", "10.0.0.2:53", "10.0.0.2:53", syscall.EADDRINUSE},
		{"wildcard then address", "0.0.0.0:53", "10.0.0.2:53", syscall.EADDRINUSE},
		{"address then wildcard", "10.0.0.2:53", "0.0.0.0:53", syscall.EADDRINUSE},
		{"wildcard twice", "0.0.0.0:53", "0.0.0.0:53", syscall.EADDRINUSE},
		{"two addresses", "10.0.0.2:53", "10.0.1.3:53", nil},
		{"other port", "0.0.0.0:53", "0.0.0.0:54", nil},
		{"broadcast address", "10.0.0.2:67", "10.0.0.255:67", nil},
		{"multicast group", "10.0.0.2:67", "224.0.0.251:67", nil},
		{"foreign address", "10.0.0.2:53", "10.0.0.9:53", syscall.EADDRNOTAVAIL},
		{"IPv4-mapped", "10.0.0.2:53", "[::ffff:10.0.1.3]:53", nil},
		{"IPv6 address not local", "10.0.0.2:53", "[::1]:53", syscall.EADDRNOTAVAIL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, b := pair(t, nil, udp.Options{})
			mustListen(t, b.s, tt.first)
			c, err := udp.Listen(b.s, netip.MustParseAddrPort(tt.next))
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			checkOpError(t, err, "listen", tt.want)
		})
	}
}

func TestEphemeralPorts(t *testing.T) {
	a, _ := pair(t, nil, udp.Options{})
	seen := map[uint16]bool{}
	for i := 0; i < 200; i++ {
		var c *udp.Conn
		if i%2 == 0 {
			c = mustListen(t, a.s, "0.0.0.0:0")
		} else {
			c = mustDial(t, a.s, "10.0.0.2:53")
			if c.LocalAddrPort().Addr() != a.addr {
				t.Errorf("Dial bound %v, want source %v", c.LocalAddrPort(), a.addr)
			}
		}
		p := c.LocalAddrPort().Port()
		if p < udp.EphemeralFirst || p > udp.EphemeralLast {
			t.Errorf("ephemeral port %d outside %d-%d", p, udp.EphemeralFirst, udp.EphemeralLast)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestBroadcastSend(t *testing.T) {
	a, b := pair(t, nil, udp.Options{})
	srv := mustListen(t, b.s, "0.0.0.0:67")
	cli := mustListen(t, a.s, "0.0.0.0:68")
	for _, dst := range []string{"255.255.255.255:67", "10.0.0.255:67"} {
		_, err := cli.WriteToUDPAddrPort([]byte("discover"), netip.MustParseAddrPort(dst))
		checkOpError(t, err, "write", syscall.EACCES)
	}
	cli.SetBroadcast(true)
	for _, dst := range []string{"255.255.255.255:67", "10.0.0.255:67"} {
		if _, err := cli.WriteToUDPAddrPort([]byte("discover"), netip.MustParseAddrPort(dst)); err != nil {
			t.Fatal(err)
		}
		r := await(t, readAsync(srv, make([]byte, 64)))
		if r.err != nil || r.n != 8 || r.from != netip.MustParseAddrPort("10.0.0.1:68") {
			t.Errorf("to %s: read %d from %v, %v", dst, r.n, r.from, r.err)
		}
	}
	// A connected conn to a broadcast address needs the option too.
	d := mustDial(t, a.s, "10.0.0.255:67")
	_, err := d.Write([]byte("x"))
	checkOpError(t, err, "write", syscall.EACCES)
	d.SetBroadcast(true)
	if _, err := d.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if r := await(t, readAsync(srv, make([]byte, 64))); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestWriteErrors(t *testing.T) {
	a, _ := pair(t, nil, udp.Options{})
	l := mustListen(t, a.s, "0.0.0.0:0")
	d := mustDial(t, a.s, "10.0.0.2:53")
	dst := netip.MustParseAddrPort("10.0.0.2:53")
	tests := []struct {
		name  string
		write func() error
		want  error
	}{
		{"Write unconnected", func() error { _, err := l.Write([]byte("x")); return err }, syscall.EDESTADDRREQ},
		{"WriteTo connected", func() error { _, err := d.WriteToUDPAddrPort([]byte("x"), dst); return err }, net.ErrWriteToConnected},
		{"no route", func() error {
			_, err := l.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("192.0.2.1:53"))
			return err
		}, syscall.ENETUNREACH},
		{"port zero", func() error {
			_, err := l.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("10.0.0.2:0"))
			return err
		}, syscall.EINVAL},
		{"IPv6 from a socket on 0.0.0.0", func() error {
			_, err := l.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:53"))
			return err
		}, syscall.EAFNOSUPPORT},
		{"nil UDPAddr", func() error { _, err := l.WriteToUDP([]byte("x"), nil); return err }, syscall.EDESTADDRREQ},
		{"not a UDPAddr", func() error {
			_, err := l.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 53})
			return err
		}, syscall.EINVAL},
		{"too long", func() error { _, err := d.Write(make([]byte, udp.MaxPayload+1)); return err }, syscall.EMSGSIZE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOpError(t, tt.write(), "write", tt.want)
		})
	}
	if _, err := udp.Dial(context.Background(), a.s, netip.MustParseAddrPort("192.0.2.1:53")); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("Dial without a route: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := udp.Dial(ctx, a.s, dst); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context: %v", err)
	}
}

func TestNetInterfaces(t *testing.T) {
	a, b := pair(t, nil, udp.Options{})
	var pc net.PacketConn = mustListen(t, b.s, "10.0.0.2:7")
	var c net.Conn = mustDial(t, a.s, "10.0.0.2:7")
	if c.RemoteAddr().String() != "10.0.0.2:7" || c.LocalAddr().(*net.UDPAddr).IP.String() != "10.0.0.1" {
		t.Errorf("Dial addresses %v -> %v", c.LocalAddr(), c.RemoteAddr())
	}
	if pc.(*udp.Conn).RemoteAddr() != nil {
		t.Errorf("unconnected RemoteAddr = %v, want nil", pc.(*udp.Conn).RemoteAddr())
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != c.LocalAddr().String() {
		t.Fatalf("ReadFrom %q from %v, %v", buf[:n], from, err)
	}
	if _, err := pc.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	n, err = c.Read(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("Read %q, %v", buf[:n], err)
	}
}

func TestLoopback(t *testing.T) {
	checkLeaks(t)
	h := newHost(t, nil, udp.Options{}, "10.0.0.1/24")
	srv := mustListen(t, h.s, "0.0.0.0:7")
	cli := mustDial(t, h.s, "10.0.0.1:7")
	if _, err := cli.Write([]byte("self")); err != nil {
		t.Fatal(err)
	}
	r := await(t, readAsync(srv, make([]byte, 10)))
	if r.err != nil || r.n != 4 || r.from != cli.LocalAddrPort() {
		t.Fatalf("read %d from %v, %v", r.n, r.from, r.err)
	}
}
