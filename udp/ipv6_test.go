package udp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// TestRFC8200Section8_1ZeroChecksum: over IPv6 the UDP checksum is
// mandatory, so a zero checksum field is invalid and the datagram is
// dropped and counted, even when the device says the checksum is fine;
// over IPv4 zero still means "none" and the datagram is delivered.
func TestRFC8200Section8_1ZeroChecksum(t *testing.T) {
	tests := []struct {
		name        string
		src, dst    string
		csum        int // -1: correct
		devOK       bool
		wantDeliver bool
		wantCounter string
	}{
		{"IPv4 zero checksum", "10.0.0.1:5000", "10.0.0.2:9", 0, false, true, ""},
		{"IPv6 zero checksum", "[fd00::1]:5000", "[fd00::2]:9", 0, false, false, "udp.rx.zero_checksum6"},
		{"IPv6 zero checksum the device passed", "[fd00::1]:5000", "[fd00::2]:9", 0, true, false, "udp.rx.zero_checksum6"},
		{"IPv6 correct checksum", "[fd00::1]:5000", "[fd00::2]:9", -1, false, true, ""},
		{"IPv6 wrong checksum", "[fd00::1]:5000", "[fd00::2]:9", 0x1234, false, false, "udp.rx.bad_checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, b := pairDual(t, nil, udp.Options{})
			srv := mustListen(t, b.s, "[::]:9")
			p := datagram(b.nic, netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst), []byte("data"), tt.csum)
			p.ChecksumOK = tt.devOK
			if !b.udp.HandlePacket(p) {
				p.Release()
				t.Fatal("not taken")
			}
			delivered := counter(b.s, "udp.rx.delivered") == 1
			if delivered != tt.wantDeliver {
				t.Errorf("delivered %v, want %v", delivered, tt.wantDeliver)
			}
			if tt.wantCounter != "" && counter(b.s, tt.wantCounter) != 1 {
				t.Errorf("%s = %d, want 1", tt.wantCounter, counter(b.s, tt.wantCounter))
			}
			if delivered {
				buf := make([]byte, 10)
				if n, _, err := srv.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "data" {
					t.Errorf("read %q %v", buf[:n], err)
				}
			}
		})
	}
}

// TestRFC8200Section8_1ChecksumSent: every IPv6 datagram we send carries
// a checksum, and one that sums to zero is sent as 0xffff (RFC 768), which
// the receiver verifies.
func TestRFC8200Section8_1ChecksumSent(t *testing.T) {
	src, dst := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	// A payload that makes the checksum come out zero: its last two bytes
	// are the checksum of the datagram with them zero.
	payload := []byte{1, 2, 3, 4, 0, 0}
	var got []uint16
	var mu sync.Mutex
	for _, tt := range []struct {
		name    string
		payload []byte
	}{{"ordinary", []byte("hello")}, {"sums to zero", payload}} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := pairDual(t, nil, udp.Options{})
			b.ip.mangle = func(d []byte) {
				mu.Lock()
				got = append(got, udp.Header(d).Checksum())
				mu.Unlock()
			}
			srv := mustListen(t, b.s, "[fd00::2]:9")
			cli := mustListen(t, a.s, "[::]:5000")
			if tt.name == "sums to zero" {
				d := make([]byte, udp.HeaderLen+len(payload))
				copy(d[udp.HeaderLen:], payload)
				udp.Fields{SrcPort: 5000, DstPort: 9, Length: uint16(len(d))}.Encode(d)
				sum := checksum.Sum(d, checksum.PseudoHeader(src, dst, stack.ProtocolUDP, uint16(len(d))))
				binary.BigEndian.PutUint16(payload[4:], ^sum)
			}
			if _, err := cli.WriteToUDPAddrPort(tt.payload, netip.AddrPortFrom(dst, 9)); err != nil {
				t.Fatal(err)
			}
			r := await(t, readAsync(srv, make([]byte, 100)))
			if r.err != nil || r.n != len(tt.payload) {
				t.Fatalf("read %d %v", r.n, r.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) == 0 || got[len(got)-1] == 0 {
				t.Errorf("checksums on the wire %#04x", got)
			}
			if tt.name == "sums to zero" && got[len(got)-1] != 0xffff {
				t.Errorf("checksum %#04x, want 0xffff", got[len(got)-1])
			}
		})
	}
}

// TestIPv6Echo: a socket on ":7" (dual-stack) answers IPv4 and IPv6
// clients, each from the address of its family, and addresses print as
// Go's net does ([fd00::2]:7).
func TestIPv6Echo(t *testing.T) {
	a, b := pairDual(t, nil, udp.Options{})
	srv := mustListen(t, b.s, "[::]:7") // what ":7" resolves to
	go func() {
		buf := make([]byte, 2048)
		for {
			n, m, err := srv.ReadMsg(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], m.From)
		}
	}()
	for _, tt := range []struct{ dst, wantRemote string }{
		{"[fd00::2]:7", "[fd00::2]:7"},
		{"10.0.0.2:7", "10.0.0.2:7"},
		{"[::ffff:10.0.0.2]:7", "10.0.0.2:7"},
	} {
		c := mustDial(t, a.s, tt.dst)
		if c.RemoteAddr().String() != tt.wantRemote {
			t.Errorf("RemoteAddr %v, want %s", c.RemoteAddr(), tt.wantRemote)
		}
		if _, err := c.Write([]byte("ping " + tt.dst)); err != nil {
			t.Fatal(err)
		}
		r := await(t, readAsync(c, make([]byte, 100)))
		if r.err != nil || r.n != len("ping "+tt.dst) || r.from.String() != tt.wantRemote {
			t.Errorf("%s: echo %d bytes from %v, %v", tt.dst, r.n, r.from, r.err)
		}
	}
	if got := srv.LocalAddr().String(); got != "[::]:7" {
		t.Errorf("LocalAddr %s", got)
	}
}

// TestListenNetworkFamilies: which families a socket takes and where it
// may send, by network and address (Go's rules on Linux, except that
// 0.0.0.0 stays IPv4-only), and how bindings on one port clash.
func TestListenNetworkFamilies(t *testing.T) {
	a, b := pairDual(t, nil, udp.Options{})
	zero := netip.AddrPortFrom(netip.Addr{}, 9)
	tests := []struct {
		name           string
		network        string
		addr           netip.AddrPort
		wantAddr       string
		get4, get6     bool
		wantErr        error
		writeTo4Errors bool
	}{
		{"udp :9 dual-stack", "udp", zero, "[::]:9", true, true, nil, false},
		{"udp [::]:9 dual-stack", "udp", netip.MustParseAddrPort("[::]:9"), "[::]:9", true, true, nil, false},
		{"udp 0.0.0.0:9 IPv4 only", "udp", netip.MustParseAddrPort("0.0.0.0:9"), "0.0.0.0:9", true, false, nil, false},
		{"udp4 :9", "udp4", zero, "0.0.0.0:9", true, false, nil, false},
		{"udp6 :9 IPv6 only", "udp6", zero, "[::]:9", false, true, nil, true},
		{"IPv6 address", "udp", netip.MustParseAddrPort("[fd00::2]:9"), "[fd00::2]:9", false, true, nil, true},
		{"udp4 with an IPv6 address", "udp4", netip.MustParseAddrPort("[fd00::2]:9"), "", false, false, syscall.EAFNOSUPPORT, false},
		{"udp6 with an IPv4 address", "udp6", netip.MustParseAddrPort("10.0.0.2:9"), "", false, false, syscall.EAFNOSUPPORT, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := udp.ListenNetwork(b.s, tt.network, tt.addr)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.LocalAddr().String() != tt.wantAddr {
				t.Errorf("LocalAddr %v, want %s", c.LocalAddr(), tt.wantAddr)
			}
			before := counter(b.s, "udp.rx.delivered")
			for _, dst := range []string{"10.0.0.2:9", "[fd00::2]:9"} {
				d := mustDial(t, a.s, dst)
				d.Write([]byte("x"))
			}
			want := uint64(0)
			for _, ok := range []bool{tt.get4, tt.get6} {
				if ok {
					want++
				}
			}
			for i := uint64(0); i < want; i++ {
				if r := await(t, readAsync(c, make([]byte, 4))); r.err != nil {
					t.Fatal(r.err)
				}
			}
			// The unwanted family has gone to port unreachable, not here.
			for range 2 - want {
				select {
				case <-b.ip.unreachable:
				case r := <-readAsync(c, make([]byte, 4)):
					t.Fatalf("unexpected datagram from %v", r.from)
				}
			}
			if got := counter(b.s, "udp.rx.delivered") - before; got != want {
				t.Errorf("delivered %d, want %d", got, want)
			}
			_, err = c.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("10.0.0.1:9"))
			if tt.writeTo4Errors != errors.Is(err, syscall.EAFNOSUPPORT) {
				t.Errorf("WriteTo an IPv4 address: %v", err)
			}
		})
	}

	clashes := []struct {
		name         string
		net1, first  string
		net2, second string
		wantClash    bool
	}{
		{"dual-stack then IPv4 wildcard", "udp", "[::]:53", "udp", "0.0.0.0:53", true},
		{"dual-stack then IPv4 address", "udp", "[::]:53", "udp", "10.0.0.2:53", true},
		{"IPv4 wildcard then IPv6-only wildcard", "udp", "0.0.0.0:53", "udp6", "[::]:53", false},
		{"IPv6-only wildcard then IPv6 address", "udp6", "[::]:53", "udp", "[fd00::2]:53", true},
		{"IPv4 address and IPv6 address", "udp", "10.0.0.2:53", "udp", "[fd00::2]:53", false},
	}
	for _, tt := range clashes {
		t.Run(tt.name, func(t *testing.T) {
			c1, err := udp.ListenNetwork(b.s, tt.net1, netip.MustParseAddrPort(tt.first))
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			c2, err := udp.ListenNetwork(b.s, tt.net2, netip.MustParseAddrPort(tt.second))
			if err == nil {
				c2.Close()
			}
			if clash := errors.Is(err, syscall.EADDRINUSE); clash != tt.wantClash || (err != nil && !clash) {
				t.Errorf("second bind: %v, want clash %v", err, tt.wantClash)
			}
		})
	}
}

// TestIPv6MaxPayload: an IPv6 datagram carries up to 65527 bytes (the
// payload length field counts the UDP header, not the IPv6 one), an IPv4
// one 65507; one byte more is EMSGSIZE.
func TestIPv6MaxPayload(t *testing.T) {
	tests := []struct {
		dst     string
		size    int
		wantErr error
	}{
		{"[fd00::2]:9", udp.MaxPayload6, nil},
		{"[fd00::2]:9", udp.MaxPayload6 + 1, syscall.EMSGSIZE},
		{"10.0.0.2:9", udp.MaxPayload + 1, syscall.EMSGSIZE},
	}
	if udp.MaxPayload6 != 65527 {
		t.Errorf("MaxPayload6 = %d", udp.MaxPayload6)
	}
	for _, tt := range tests {
		a, b := pairDual(t, nil, udp.Options{})
		srv := mustListen(t, b.s, "[::]:9")
		cli := mustListen(t, a.s, "[::]:0")
		msg := bytes.Repeat([]byte{7}, tt.size)
		_, err := cli.WriteToUDPAddrPort(msg, netip.MustParseAddrPort(tt.dst))
		if tt.wantErr != nil {
			checkOpError(t, err, "write", tt.wantErr)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		r := await(t, readAsync(srv, make([]byte, 70000)))
		if r.err != nil || r.n != tt.size {
			t.Errorf("%s: read %d %v, want %d", tt.dst, r.n, r.err, tt.size)
		}
	}
}

// TestDialNetworkFamilies: udp4 and udp6 refuse the other family and the
// error names the network; the unspecified address is invalid.
func TestDialNetworkFamilies(t *testing.T) {
	a, _ := pairDual(t, nil, udp.Options{})
	tests := []struct {
		network, addr string
		want          error
	}{
		{"udp4", "[fd00::2]:9", syscall.EAFNOSUPPORT},
		{"udp6", "10.0.0.2:9", syscall.EAFNOSUPPORT},
		{"udp", "[::]:9", syscall.EINVAL},
	}
	for _, tt := range tests {
		_, err := udp.DialNetwork(context.Background(), a.s, tt.network, netip.MustParseAddrPort(tt.addr))
		var oe *net.OpError
		if !errors.Is(err, tt.want) || !errors.As(err, &oe) || oe.Net != tt.network {
			t.Errorf("%s %s: %v, want %v", tt.network, tt.addr, err, tt.want)
		}
	}
	c, err := udp.DialNetwork(context.Background(), a.s, "udp6", netip.MustParseAddrPort("[fd00::2]:9"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LocalAddrPort().Addr() != netip.MustParseAddr("fd00::1") {
		t.Errorf("local %v", c.LocalAddrPort())
	}
}
