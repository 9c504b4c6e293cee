package tcp

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
)

// TestRFC6528ISNHashesIPv6Addresses: the ISN and SYN cookie hashes take
// whole 16-byte IPv6 addresses (tuples that differ only in the last byte of
// an address get different values) and do not panic on them, and an IPv6
// cookie round-trips; IPv4 tuples hash as before (4-byte addresses).
func TestRFC6528ISNHashesIPv6Addresses(t *testing.T) {
	p := &Protocol{}
	copy(p.secret[:], "fedcba9876543210")
	copy(p.cookieSecret[:], "0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	tup := func(l, r string) tuple {
		return tuple{netip.MustParseAddrPort(l), netip.MustParseAddrPort(r)}
	}
	tests := []struct {
		name string
		a, b tuple
	}{
		{"IPv6 remote differs in its last byte", tup("[fd00::2]:80", "[fd00::1]:40000"), tup("[fd00::2]:80", "[fd00::3]:40000")},
		{"IPv6 local differs in its last byte", tup("[fd00::2]:80", "[fd00::1]:40000"), tup("[fd00::4]:80", "[fd00::1]:40000")},
		{"IPv6 differs in its first bytes", tup("[fd00::2]:80", "[fd00::1]:40000"), tup("[fd01::2]:80", "[fd00::1]:40000")},
		{"IPv4 and its mapped form are other tuples", tup("10.0.0.2:80", "10.0.0.1:40000"), tup("[::ffff:10.0.0.2]:80", "[::ffff:10.0.0.1]:40000")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ia, oa := p.isn(tt.a, now)
			ib, ob := p.isn(tt.b, now)
			if ia == ib || oa == ob {
				t.Errorf("isn %v/%v and %v/%v: the hash ignores part of the address", ia, oa, ib, ob)
			}
			if p.cookieHash(tt.a, 1, 2, 3) == p.cookieHash(tt.b, 1, 2, 3) {
				t.Error("cookie hash ignores part of the address")
			}
			c, mss := p.makeCookie(tt.a, 99, now, 1440)
			if got, ok := p.checkCookie(tt.a, c, 99, now); !ok || got != mss {
				t.Errorf("cookie for its own tuple: %d %v", got, ok)
			}
			if _, ok := p.checkCookie(tt.b, c, 99, now); ok {
				t.Error("cookie accepted for another tuple")
			}
		})
	}
	// The IPv4 layout is the one the hash always had: secret, 4-byte
	// addresses, ports.
	var b [36]byte
	if n := putTuple(b[:], tup("10.0.0.2:80", "10.0.0.1:40000")); n != 12 || b[0] != 10 || b[3] != 2 || b[7] != 1 || b[9] != 80 {
		t.Errorf("IPv4 tuple layout %d % x", n, b[:n])
	}
	if n := putTuple(b[:], tup("[fd00::2]:80", "[fd00::1]:40000")); n != 36 {
		t.Errorf("IPv6 tuple takes %d bytes, want 36", n)
	}
}

// routeOver returns a route from a stack with one NIC of the given MTU and
// checksum/TSO offload (gso > 0) to remote.
func routeOver(t *testing.T, mtu, gso int, local, remote string) stack.Route {
	t.Helper()
	s := stack.New(stack.Options{})
	t.Cleanup(func() { s.Close() })
	var ep stack.LinkEndpoint = nullLink{mtu}
	if gso > 0 {
		ep = offloadLink{nullLink{mtu}, gso}
	}
	nic, err := s.AddNIC("eth0", ep)
	if err != nil {
		t.Fatal(err)
	}
	if err := nic.AddAddress(netip.MustParsePrefix(local)); err != nil {
		t.Fatal(err)
	}
	r, err := s.FindRoute(netip.MustParseAddr(remote), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRFC8200Section8_3MSS: the MSS we advertise is the MTU less 60 bytes
// over IPv6 (40-byte header) and 40 over IPv4 (RFC 6691: the MSS counts
// neither IP nor TCP options); a TSO super-segment leaves room for the
// IPv6 header too.
func TestRFC8200Section8_3MSS(t *testing.T) {
	tests := []struct {
		name          string
		mtu           int
		local, remote string
		wantMSS       int
	}{
		{"IPv4 Ethernet", 1500, "10.0.0.2/24", "10.0.0.1", 1460},
		{"IPv6 Ethernet", 1500, "fd00::2/64", "fd00::1", 1440},
		{"IPv6 link-local", 1500, "fe80::2/64", "fe80::1", 1440},
		{"IPv6 jumbo", 9000, "fd00::2/64", "fd00::1", 8940},
		{"IPv6 minimum MTU", 1280, "fd00::2/64", "fd00::1", 1220},
		{"IPv6 never below 1220", 600, "fd00::2/64", "fd00::1", 1220},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := routeMSS(routeOver(t, tt.mtu, 0, tt.local, tt.remote)); got != tt.wantMSS {
				t.Errorf("routeMSS = %d, want %d", got, tt.wantMSS)
			}
		})
	}
	_, g4 := routeOffloads(routeOver(t, 1500, 65535, "10.0.0.2/24", "10.0.0.1"))
	_, g6 := routeOffloads(routeOver(t, 1500, 65535, "fd00::2/64", "fd00::1"))
	if g4-g6 != ipv6HeaderLen-ipv4HeaderLen || g6 <= 0 {
		t.Errorf("GSO payload limits: IPv4 %d, IPv6 %d; want IPv6 20 bytes less", g4, g6)
	}
}

// TestRFC9293DefaultMSSIPv6: a peer that sends no MSS option is assumed
// to take 536 bytes over IPv4 and 1220 over IPv6 (RFC 9293 3.7.1, RFC
// 8200 8.3).
func TestRFC9293DefaultMSSIPv6(t *testing.T) {
	for _, tt := range []struct {
		remote string
		want   int
	}{{"10.0.0.1", 536}, {"fd00::1", 1220}} {
		t.Run(tt.remote, func(t *testing.T) {
			c := familyCore(t, tt.remote)
			c.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 65535})
			if c.mss != tt.want || int(c.peerMSS) != tt.want {
				t.Errorf("mss %d peerMSS %d, want %d", c.mss, c.peerMSS, tt.want)
			}
		})
	}
}

// familyCore is a new core advertising a jumbo MSS that talks to remote.
func familyCore(t *testing.T, remote string) *core {
	c := newTestCore(t)
	c.ourMSS = 8960
	c.setFamily(netip.MustParseAddr(remote))
	return c
}

// TestRFC8201PacketTooBig: a packet-too-big error about an IPv6
// connection sets the MSS to the reported MTU less 60 bytes, never below
// 1220 (the path MTU is not lowered under 1280); over IPv4 the
// fragmentation-needed MTU less 40 as before.
func TestRFC8201PacketTooBig(t *testing.T) {
	tests := []struct {
		name    string
		remote  string
		mtu     int
		wantMSS int
	}{
		{"IPv6 tunnel", "fd00::1", 1400, 1340},
		{"IPv6 minimum", "fd00::1", 1280, 1220},
		{"IPv6 below the minimum", "fd00::1", 1000, 1220},
		{"IPv4", "10.0.0.1", 1400, 1360},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := familyCore(t, tt.remote)
			c.connect(t0)
			c.handleSegment(t0, &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535,
				opts: SegmentOptions{HasMSS: true, MSS: 8960}})
			if c.state != StateEstablished {
				t.Fatalf("state %v", c.state)
			}
			c.write(t0, make([]byte, 4*testMSS))
			c.output(t0)
			takeOut(c)
			c.handleError(t0, stack.ErrorFragmentationNeeded, c.sndUna, pmtuForCore(netip.MustParseAddr(tt.remote), tt.mtu))
			if c.mss != tt.wantMSS {
				t.Errorf("mss %d after an MTU of %d, want %d", c.mss, tt.mtu, tt.wantMSS)
			}
		})
	}
}

// TestRFC3168ECNInTrafficClass: the CE codepoint is read from the IPv4
// TOS byte and from the IPv6 traffic class (RFC 8200 section 7), whose
// ECN bits sit in the high nibble of the second header byte: ipv4 and
// ipv6 put the byte in Packet.TOS, whose low two bits tcp reads.
func TestRFC3168ECNInTrafficClass(t *testing.T) {
	v4 := func(tos byte) []byte { b := make([]byte, 20); b[0], b[1] = 0x45, tos; return b }
	v6 := func(tc byte) []byte { b := make([]byte, 40); b[0], b[1] = 0x60|tc>>4, tc<<4; return b }
	tests := []struct {
		name string
		nh   []byte
		want bool
	}{
		{"IPv4 CE", v4(0x03), true},
		{"IPv4 ECT(0)", v4(0x02), false},
		{"IPv6 CE", v6(0x03), true},
		{"IPv6 CE with DSCP", v6(0xb8 | 0x03), true},
		{"IPv6 ECT(0)", v6(0x02), false},
		{"IPv6 DSCP only", v6(0xfc), false},
		{"IPv6 flow label bits are not ECN", []byte{0x60, 0x0f, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"short IPv6 header", v6(0x03)[:20], false},
		{"none", nil, false},
	}
	tos := func(nh []byte) uint8 {
		switch {
		case len(nh) >= ipv4.HeaderLen && nh[0]>>4 == 4:
			return ipv4.Header(nh).TOS()
		case len(nh) >= ipv6.HeaderLen && nh[0]>>4 == 6:
			return ipv6.Header(nh).TrafficClass()
		}
		return 0 // not taken as IP
	}
	for _, tt := range tests {
		if got := tos(tt.nh)&ecnMask == ecnCE; got != tt.want {
			t.Errorf("%s: CE %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestListenNetworkRules: which addresses and families a listener takes,
// as Go's net.Listen on Linux (except that "tcp" with 0.0.0.0 stays
// IPv4-only), and how listeners on one port clash (as Linux bind).
func TestListenNetworkRules(t *testing.T) {
	tn := newTestNetFamilies(t, Options{}, linkFaults{}, linkFaults{}, 4, 6)
	zero := netip.AddrPortFrom(netip.Addr{}, 80)
	tests := []struct {
		name     string
		network  string
		addr     netip.AddrPort
		wantAddr string
		wantV6   bool
		wantErr  error
	}{
		{"tcp :80 is dual-stack", "tcp", zero, "[::]:80", false, nil},
		{"tcp [::]:80 is dual-stack", "tcp", netip.MustParseAddrPort("[::]:80"), "[::]:80", false, nil},
		{"tcp 0.0.0.0:80 is IPv4", "tcp", netip.MustParseAddrPort("0.0.0.0:80"), "0.0.0.0:80", false, nil},
		{"tcp4 :80", "tcp4", zero, "0.0.0.0:80", false, nil},
		{"tcp6 :80 is IPv6-only", "tcp6", zero, "[::]:80", true, nil},
		{"tcp6 [::]:80 is IPv6-only", "tcp6", netip.MustParseAddrPort("[::]:80"), "[::]:80", true, nil},
		{"tcp IPv6 address", "tcp", netip.MustParseAddrPort("[fd00::2]:80"), "[fd00::2]:80", false, nil},
		{"tcp mapped IPv4 address", "tcp", netip.MustParseAddrPort("[::ffff:10.0.0.2]:80"), "10.0.0.2:80", false, nil},
		{"tcp4 refuses an IPv6 address", "tcp4", netip.MustParseAddrPort("[fd00::2]:80"), "", false, syscall.EAFNOSUPPORT},
		{"tcp6 refuses an IPv4 address", "tcp6", netip.MustParseAddrPort("10.0.0.2:80"), "", false, syscall.EAFNOSUPPORT},
		{"not local", "tcp", netip.MustParseAddrPort("[fd00::9]:80"), "", false, syscall.EADDRNOTAVAIL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := ListenNetwork(tn.b, tt.network, tt.addr)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if ln.Addr().String() != tt.wantAddr || ln.v6only != tt.wantV6 {
				t.Errorf("listener %v v6only %v, want %s %v", ln.Addr(), ln.v6only, tt.wantAddr, tt.wantV6)
			}
		})
	}
	if _, err := ListenNetwork(tn.b, "udp", zero); err == nil {
		t.Error("network udp accepted")
	}

	clashes := []struct {
		name         string
		first, other netip.AddrPort
		net1, net2   string
		wantClash    bool
	}{
		{"dual-stack then IPv4 wildcard", zero, netip.MustParseAddrPort("0.0.0.0:80"), "tcp", "tcp", true},
		{"dual-stack then IPv4 address", zero, netip.MustParseAddrPort("10.0.0.2:80"), "tcp", "tcp", true},
		{"IPv4 wildcard then dual-stack", netip.MustParseAddrPort("0.0.0.0:80"), zero, "tcp", "tcp", true},
		{"IPv4 wildcard and IPv6-only wildcard", netip.MustParseAddrPort("0.0.0.0:80"), zero, "tcp", "tcp6", false},
		{"IPv6-only wildcard then IPv6 address", zero, netip.MustParseAddrPort("[fd00::2]:80"), "tcp6", "tcp", true},
		{"IPv4 address and IPv6 address", netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("[fd00::2]:80"), "tcp", "tcp", false},
		{"IPv6-only wildcard and IPv4 address", zero, netip.MustParseAddrPort("10.0.0.2:80"), "tcp6", "tcp", false},
	}
	for _, tt := range clashes {
		t.Run(tt.name, func(t *testing.T) {
			l1, err := ListenNetwork(tn.b, tt.net1, tt.first)
			if err != nil {
				t.Fatal(err)
			}
			defer l1.Close()
			l2, err := ListenNetwork(tn.b, tt.net2, tt.other)
			if err == nil {
				defer l2.Close()
			}
			if clash := errors.Is(err, syscall.EADDRINUSE); clash != tt.wantClash || (err != nil && !clash) {
				t.Errorf("second listen: %v, want clash %v", err, tt.wantClash)
			}
		})
	}
}

// accept1 accepts one connection on ln in the background.
func accept1(t *testing.T, ln *Listener) <-chan *Conn {
	ch := make(chan *Conn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	return ch
}

// TestDualStackListener: one listener on :8080 takes an IPv4 and an IPv6
// connection, each with the addresses of its own family ([fd00::2]:8080
// in net.Addr form), and data flows on both.
func TestDualStackListener(t *testing.T) {
	tn := newTestNetFamilies(t, Options{}, linkFaults{}, linkFaults{}, 4, 6)
	ln, err := Listen(tn.b, netip.AddrPortFrom(netip.Addr{}, 8080))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range []struct {
		dst       netip.Addr
		wantLocal string
	}{{tn.ipB, "10.0.0.2:8080"}, {tn.ipB6, "[fd00::2]:8080"}, {netip.MustParseAddr("::ffff:10.0.0.2"), "10.0.0.2:8080"}} {
		acc := accept1(t, ln)
		c, err := Dial(ctxT(t), tn.a, netip.AddrPortFrom(tt.dst, 8080))
		if err != nil {
			t.Fatalf("dial %v: %v", tt.dst, err)
		}
		s := <-acc
		if s == nil {
			t.FailNow()
		}
		if s.LocalAddr().String() != tt.wantLocal || c.RemoteAddr().String() != tt.wantLocal {
			t.Errorf("dial %v: server local %v, client remote %v, want %s", tt.dst, s.LocalAddr(), c.RemoteAddr(), tt.wantLocal)
		}
		if s.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("server sees %v, client is %v", s.RemoteAddr(), c.LocalAddr())
		}
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("read %q %v", buf, err)
		}
		c.Close()
		s.Close()
	}
}

// TestListenerFamilies: a segment reaches a wildcard listener only of a
// family it takes; otherwise the dial is refused with a RST, over IPv6
// as over IPv4 (RFC 9293 3.10.7.1).
func TestListenerFamilies(t *testing.T) {
	tests := []struct {
		name    string
		network string
		laddr   string
		dial6   bool
		wantOK  bool
	}{
		{"IPv6-only refuses IPv4", "tcp6", "[::]:8080", false, false},
		{"IPv6-only takes IPv6", "tcp6", "[::]:8080", true, true},
		{"IPv4 wildcard refuses IPv6", "tcp", "0.0.0.0:8080", true, false},
		{"IPv6 address refuses IPv6 to another port", "tcp", "[fd00::2]:8081", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTestNetFamilies(t, Options{}, linkFaults{}, linkFaults{}, 4, 6)
			ln, err := ListenNetwork(tn.b, tt.network, netip.MustParseAddrPort(tt.laddr))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			dst := tn.ipB
			if tt.dial6 {
				dst = tn.ipB6
			}
			c, err := Dial(ctxT(t), tn.a, netip.AddrPortFrom(dst, 8080))
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial: %v, want ECONNREFUSED", err)
			}
			if tn.b.Counters().Value("tcp.tx.rst") == 0 {
				t.Error("no RST sent")
			}
		})
	}
}

// TestDialNetworkRules: tcp4 and tcp6 refuse the other family, a mapped
// address is dialled over IPv4, and multicast or unspecified targets are
// invalid.
func TestDialNetworkRules(t *testing.T) {
	tn := newTestNetFamilies(t, Options{}, linkFaults{}, linkFaults{}, 4, 6)
	tests := []struct {
		network string
		addr    string
		wantErr error
	}{
		{"tcp4", "[fd00::2]:80", syscall.EAFNOSUPPORT},
		{"tcp6", "10.0.0.2:80", syscall.EAFNOSUPPORT},
		{"tcp6", "[::ffff:10.0.0.2]:80", syscall.EAFNOSUPPORT},
		{"tcp", "[ff02::1]:80", syscall.EINVAL},
		{"tcp", "[::]:80", syscall.EINVAL},
		{"tcp6", "[fd00::2]:0", syscall.EINVAL},
	}
	for _, tt := range tests {
		if _, err := DialNetwork(ctxT(t), tn.a, tt.network, netip.MustParseAddrPort(tt.addr)); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s %s: %v, want %v", tt.network, tt.addr, err, tt.wantErr)
		}
	}
	var oe *net.OpError
	if _, err := DialNetwork(ctxT(t), tn.a, "tcp6", netip.MustParseAddrPort("10.0.0.2:80")); !errors.As(err, &oe) || oe.Net != "tcp6" {
		t.Errorf("error %v does not name the network", err)
	}
}

// TestIPv6RejectedAddresses: segments to an IPv6 multicast address, or
// with a multicast, unspecified or IPv4-mapped source, are counted and
// dropped without an answer.
func TestIPv6RejectedAddresses(t *testing.T) {
	tests := []struct{ src, dst string }{
		{"fd00::1", "ff02::1"},
		{"fd00::1", "ff05::2"},
		{"ff02::1", "fd00::2"},
		{"::", "fd00::2"},
		{"::ffff:10.0.0.1", "fd00::2"},
		{"fd00::1", "::ffff:10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.src+">"+tt.dst, func(t *testing.T) {
			tn := newTestNetFamilies(t, Options{}, linkFaults{}, linkFaults{}, 6)
			p := stack.NewPacket(stack.Headroom, HeaderLen)
			f := Fields{SrcPort: 1234, DstPort: 80, Seq: 1, Flags: FlagSYN, Window: 1000}
			f.Encode(p.Bytes())
			p.Src, p.Dst, p.ChecksumOK = netip.MustParseAddr(tt.src), netip.MustParseAddr(tt.dst), true
			tn.pb.HandlePacket(p)
			cs := tn.b.Counters()
			if cs.Value("tcp.rx.bad_address") != 1 || cs.Value("tcp.tx.rst") != 0 || cs.Value("tcp.tx.segments") != 0 {
				t.Errorf("bad_address %d, rst %d, tx %d", cs.Value("tcp.rx.bad_address"), cs.Value("tcp.tx.rst"), cs.Value("tcp.tx.segments"))
			}
		})
	}
}

// TestIPv6BulkTransfer: 4 MiB one way and 1 MiB back, byte-exact, over
// IPv6 on a clean wire, under loss and reordering, and through an
// offloading device (TSO super-segments cut at MTU 1500 less the 40-byte
// IPv6 header).
func TestIPv6BulkTransfer(t *testing.T) {
	tests := []struct {
		name   string
		ab, ba linkFaults
	}{
		{"clean", linkFaults{}, linkFaults{}},
		{"loss and reordering", linkFaults{seed: 1, loss: 0.03, reorder: 0.02}, linkFaults{seed: 2, loss: 0.03, reorder: 0.02}},
		{"offload", linkFaults{offload: 65535}, linkFaults{offload: 65535}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runBulkOver(t, 6, Options{}, 4<<20, tt.ab, tt.ba)
			for _, w := range []*segmentingWire{res.wireA, res.wireB} {
				w.check(t)
			}
			if tt.ab.offload > 0 && res.wireA.supers == 0 {
				t.Error("no super-segment sent over IPv6")
			}
		})
	}
}

// TestIPv6PacketTooBigLowersMSS: an ICMPv6 packet-too-big about a
// segment in flight (as ipv6 hands it to HandleError) shrinks the
// connection's segments to the MTU less 60 bytes and resends them so.
func TestIPv6PacketTooBigLowersMSS(t *testing.T) {
	rec := &recordIP6{}
	p, c, _, remote, local := handConnOver(t, rec, Options{}, "fd00::2/64", "fd00::1")
	if _, err := c.Write(make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	e := c.e
	e.mu.Lock()
	e.flush()
	mss, una := e.c.mss, e.c.sndUna
	e.mu.Unlock()
	if mss != 1440 {
		t.Fatalf("MSS %d with a peer that offered 1460 over a 1500-byte IPv6 link, want 1440", mss)
	}
	h := make([]byte, HeaderLen)
	f := Fields{SrcPort: 81, DstPort: 40000, Seq: uint32(una)}
	f.Encode(h)
	rec.lens = nil
	p.HandleError(stack.TransportError{Kind: stack.ErrorFragmentationNeeded, MTU: 1400, Src: local, Dst: remote, Transport: h})
	e.mu.Lock()
	mss = e.c.mss
	e.flush()
	e.mu.Unlock()
	if mss != 1340 {
		t.Errorf("MSS %d after packet too big (MTU 1400), want 1340", mss)
	}
	if len(rec.lens) == 0 || rec.lens[0] > 1400-ipv6HeaderLen {
		t.Errorf("resent segments of %v bytes, want at most %d", rec.lens, 1400-ipv6HeaderLen)
	}
}

// recordIP6 is an IPv6 writer that records the length of each segment.
type recordIP6 struct {
	mu   sync.Mutex
	lens []int
}

func (*recordIP6) EtherType() uint16            { return stack.EtherTypeIPv6 }
func (*recordIP6) HandlePacket(p *stack.Packet) { p.Release() }
func (r *recordIP6) WritePacket(_ *stack.Route, _ stack.NetworkParams, p *stack.Packet) error {
	r.mu.Lock()
	r.lens = append(r.lens, p.Len())
	r.mu.Unlock()
	p.Release()
	return nil
}
