package udp_test

// Errors, deadlines and closing.

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

func TestClosedPortThroughIP(t *testing.T) {
	a, _ := pair(t, nil, udp.Options{})
	c := mustDial(t, a.s, "10.0.0.2:4242")
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	select {
	case dst := <-a.ip.peer.unreachable:
		if dst != netip.MustParseAddrPort("10.0.0.2:4242") {
			t.Errorf("port unreachable for %v", dst)
		}
	case <-time.After(guard):
		t.Fatal("HandlePacket did not report the closed port")
	}
}

// portUnreachable is the ICMP error the IP layer would deliver for a
// datagram c sent.
func portUnreachable(c *udp.Conn, kind stack.ErrorKind) stack.TransportError {
	q := make([]byte, 8)
	udp.Fields{SrcPort: c.LocalAddrPort().Port(), DstPort: c.RemoteAddrPort().Port(), Length: 8}.Encode(q)
	return stack.TransportError{Kind: kind, Type: 3, Code: 3, Src: c.LocalAddrPort().Addr(), Dst: c.RemoteAddrPort().Addr(), Transport: q}
}

func TestTransportError(t *testing.T) {
	tests := []struct {
		name string
		kind stack.ErrorKind
		want error // nil: ignored, as Linux ignores soft errors
	}{
		{"port unreachable", stack.ErrorPortUnreachable, syscall.ECONNREFUSED},
		{"protocol unreachable", stack.ErrorProtocolUnreachable, syscall.ENOPROTOOPT},
		{"fragmentation needed", stack.ErrorFragmentationNeeded, syscall.EMSGSIZE},
		{"host unreachable", stack.ErrorHostUnreachable, nil},
		{"time exceeded", stack.ErrorTimeExceeded, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			a, _ := pair(t, clk, udp.Options{})
			c := mustDial(t, a.s, "10.0.0.2:4242")
			a.udp.HandleError(portUnreachable(c, tt.kind))
			if tt.want == nil {
				c.SetReadDeadline(clk.Now()) // do not block
				_, err := c.Read(make([]byte, 10))
				checkOpError(t, err, "read", os.ErrDeadlineExceeded)
				if _, err := c.Write([]byte("x")); err != nil {
					t.Errorf("Write after an ignored error: %v", err)
				}
				return
			}
			// The next Read returns it, once.
			_, err := c.Read(make([]byte, 10))
			checkOpError(t, err, "read", tt.want)
			if _, err := c.Write([]byte("x")); err != nil {
				t.Errorf("second operation after the error: %v", err)
			}
			// The next Write returns it, once.
			a.udp.HandleError(portUnreachable(c, tt.kind))
			_, err = c.Write([]byte("x"))
			checkOpError(t, err, "write", tt.want)
			if _, err := c.Write([]byte("x")); err != nil {
				t.Errorf("Write after the error was reported: %v", err)
			}
		})
	}
}

func TestTransportErrorWakesReader(t *testing.T) {
	a, _ := pair(t, nil, udp.Options{})
	c := mustDial(t, a.s, "10.0.0.2:4242")
	ch := readAsync(c, make([]byte, 10))
	a.udp.HandleError(portUnreachable(c, stack.ErrorPortUnreachable))
	r := await(t, ch)
	checkOpError(t, r.err, "read", syscall.ECONNREFUSED)
	if !errors.Is(r.err, stack.ErrConnectionRefused) {
		t.Errorf("%v is not stack.ErrConnectionRefused", r.err)
	}
}

func TestTransportErrorIgnoredWhenUnconnected(t *testing.T) {
	clk := newClock()
	a, _ := pair(t, clk, udp.Options{})
	l := mustListen(t, a.s, "0.0.0.0:5000")
	c := mustDial(t, a.s, "10.0.0.2:4242")
	other := portUnreachable(c, stack.ErrorPortUnreachable)
	other.Dst = netip.MustParseAddr("10.0.1.3") // not c's peer
	a.udp.HandleError(other)
	q := make([]byte, 8)
	udp.Fields{SrcPort: 5000, DstPort: 4242, Length: 8}.Encode(q)
	a.udp.HandleError(stack.TransportError{Kind: stack.ErrorPortUnreachable, Src: a.addr, Dst: netip.MustParseAddr("10.0.0.2"), Transport: q})
	a.udp.HandleError(stack.TransportError{Kind: stack.ErrorPortUnreachable, Transport: q[:2]}) // too short: ignored
	for _, conn := range []*udp.Conn{l, c} {
		conn.SetReadDeadline(clk.Now())
		_, _, err := conn.ReadFromUDPAddrPort(make([]byte, 10))
		checkOpError(t, err, "read", os.ErrDeadlineExceeded)
	}
}

func TestDeadlines(t *testing.T) {
	clk := newClock()
	a, b := pair(t, clk, udp.Options{})
	srv := mustListen(t, b.s, "0.0.0.0:7")
	cli := mustDial(t, a.s, "10.0.0.2:7")
	buf := make([]byte, 64)

	t.Run("past read deadline fails at once", func(t *testing.T) {
		srv.SetReadDeadline(clk.Now().Add(-time.Second))
		_, _, err := srv.ReadFromUDPAddrPort(buf)
		checkOpError(t, err, "read", os.ErrDeadlineExceeded)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%v is not a net.Error with Timeout()", err)
		}
	})
	t.Run("expired deadline wins over queued data", func(t *testing.T) {
		if _, err := cli.Write([]byte("queued")); err != nil {
			t.Fatal(err)
		}
		waitQueued(t, b.udp, srv)
		_, _, err := srv.ReadFromUDPAddrPort(buf)
		checkOpError(t, err, "read", os.ErrDeadlineExceeded)
	})
	t.Run("cleared deadline reads", func(t *testing.T) {
		srv.SetReadDeadline(time.Time{})
		n, _, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "queued" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
	})
	t.Run("future deadline fires on a blocked read", func(t *testing.T) {
		srv.SetReadDeadline(clk.Now().Add(time.Second))
		ch := readAsync(srv, buf)
		clk.Advance(999 * time.Millisecond)
		select {
		case r := <-ch:
			t.Fatalf("read returned before the deadline: %v", r.err)
		default:
		}
		clk.Advance(time.Millisecond)
		checkOpError(t, await(t, ch).err, "read", os.ErrDeadlineExceeded)
	})
	t.Run("extended deadline applies to a blocked read", func(t *testing.T) {
		srv.SetReadDeadline(clk.Now().Add(time.Second))
		ch := readAsync(srv, buf)
		srv.SetReadDeadline(clk.Now().Add(time.Hour))
		clk.Advance(time.Second)
		select {
		case r := <-ch:
			t.Fatalf("read returned at the old deadline: %v", r.err)
		default:
		}
		if _, err := cli.Write([]byte("late")); err != nil {
			t.Fatal(err)
		}
		r := await(t, ch)
		if r.err != nil || string(buf[:r.n]) != "late" {
			t.Fatalf("read %q, %v", buf[:r.n], r.err)
		}
		srv.SetReadDeadline(time.Time{})
		if n := clk.Pending(); n != 0 {
			t.Errorf("%d timers still armed after clearing the deadline", n)
		}
	})
	t.Run("write deadline", func(t *testing.T) {
		cli.SetWriteDeadline(clk.Now())
		_, err := cli.Write([]byte("x"))
		checkOpError(t, err, "write", os.ErrDeadlineExceeded)
		cli.SetDeadline(time.Time{})
		if _, err := cli.Write([]byte("x")); err != nil {
			t.Errorf("Write after clearing the deadline: %v", err)
		}
		if r := await(t, readAsync(srv, buf)); r.err != nil {
			t.Fatal(r.err)
		}
	})
}

// waitQueued waits until c has a datagram queued.
func waitQueued(t testing.TB, u *udp.Protocol, c *udp.Conn) {
	t.Helper()
	limit := time.Now().Add(guard)
	for queued(u, c) <= 0 {
		if time.Now().After(limit) {
			t.Fatal("nothing arrived")
		}
		runtimeGosched()
	}
}

func TestClose(t *testing.T) {
	a, b := pair(t, nil, udp.Options{})
	srv := mustListen(t, b.s, "0.0.0.0:7")
	cli := mustDial(t, a.s, "10.0.0.2:7")
	// Queue a datagram that Close must release.
	cli.Write([]byte("never read"))
	waitQueued(t, b.udp, srv)

	ch1, ch2 := readAsync(srv, make([]byte, 1)), readAsync(cli, make([]byte, 1))
	ch3 := readAsync(cli, make([]byte, 1))
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan readResult{ch1, ch2, ch3} {
		if r := await(t, ch); !errors.Is(r.err, net.ErrClosed) {
			// srv's reader may have taken the queued datagram before Close.
			if r.err != nil || ch != ch1 {
				t.Errorf("read after Close: %v", r.err)
			}
		}
	}
	checkOpError(t, srv.Close(), "close", net.ErrClosed)
	_, err := cli.Write([]byte("x"))
	checkOpError(t, err, "write", net.ErrClosed)
	_, _, err = srv.ReadFromUDPAddrPort(make([]byte, 1))
	checkOpError(t, err, "read", net.ErrClosed)
	if err := srv.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Close: %v", err)
	}
	// The port is free again.
	mustListen(t, b.s, "0.0.0.0:7")
}

func TestStackCloseClosesConns(t *testing.T) {
	checkLeaks(t)
	h := newHost(t, nil, udp.Options{}, "10.0.0.1/24")
	c, err := udp.Listen(h.s, netip.MustParseAddrPort("0.0.0.0:7"))
	if err != nil {
		t.Fatal(err)
	}
	ch := readAsync(c, make([]byte, 1))
	h.s.Close()
	checkOpError(t, await(t, ch).err, "read", net.ErrClosed)
	_, err = udp.Listen(h.s, netip.MustParseAddrPort("0.0.0.0:8"))
	checkOpError(t, err, "listen", stack.ErrClosed)
}
