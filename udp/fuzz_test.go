package udp_test

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// FuzzHandlePacket feeds arbitrary datagrams, from arbitrary sources to
// unicast, broadcast and multicast destinations, into a protocol with a
// wildcard, a bound and a connected endpoint. Nothing may panic, every
// packet must be released exactly once, and what is delivered must be a
// valid datagram's payload.
func FuzzHandlePacket(f *testing.F) {
	src, dst := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:53")
	seed := datagram(nil, src, dst, []byte("seed"), -1)
	f.Add(seed.Bytes(), uint8(0), uint8(1), false)
	f.Add(seed.Bytes(), uint8(1), uint8(2), true)
	f.Add([]byte{0, 1, 0, 53, 0, 8, 0, 0}, uint8(2), uint8(3), false)
	f.Add([]byte{0, 1, 0, 53, 0, 7, 0, 0}, uint8(3), uint8(0), false)
	f.Add([]byte{0x03, 0xe8}, uint8(0), uint8(0), false)
	seed.Release()

	dsts := []netip.Addr{
		netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.1.3"),
		netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("10.0.0.255"),
		netip.MustParseAddr("224.0.0.251"),
		netip.MustParseAddr("fd00::2"), netip.MustParseAddr("ff02::1"), netip.MustParseAddr("::ffff:10.0.0.2"),
	}
	srcs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("::")}
	f.Add(seed6(), uint8(5), uint8(3), false)

	h := newHost(f, nil, udp.Options{ReceiveBuffer: 4096}, "10.0.0.2/24", "10.0.1.3/24", "fd00::2/64")
	var conns []*udp.Conn
	for _, a := range []string{"0.0.0.0:53", "10.0.1.3:54", "[::]:55", "[fd00::2]:53"} {
		c, err := udp.Listen(h.s, netip.MustParseAddrPort(a))
		if err != nil {
			f.Fatal(err)
		}
		conns = append(conns, c)
	}
	d, err := udp.Dial(f.Context(), h.s, netip.MustParseAddrPort("10.0.0.1:1000"))
	if err != nil {
		f.Fatal(err)
	}
	conns = append(conns, d)
	buf := make([]byte, 70000)
	if d6, err := udp.Dial(f.Context(), h.s, netip.MustParseAddrPort("[fd00::1]:1000")); err == nil {
		conns = append(conns, d6)
	} else {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, b []byte, di, si uint8, csumOK bool) {
		if len(b) > 65535 {
			return
		}
		live := stack.LivePackets()
		p := stack.NewPacketFrom(b)
		p.Src, p.Dst, p.NIC, p.ChecksumOK = srcs[int(si)%len(srcs)], dsts[int(di)%len(dsts)], h.nic, csumOK
		if !h.udp.HandlePacket(p) {
			p.Release()
		}
		// Drain every endpoint; a read with data queued does not block.
		for _, c := range conns {
			for queued(h.udp, c) > 0 {
				n, _, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				hd := udp.Header(b)
				if hd.Validate() != nil || n != len(hd.Payload()) {
					t.Fatalf("delivered %d bytes from a datagram that should not deliver them", n)
				}
			}
		}
		if got := stack.LivePackets(); got != live {
			t.Fatalf("live packets %d before, %d after", live, got)
		}
	})
}

// seed6 is a valid IPv6 datagram from [fd00::1]:1000 to [fd00::2]:53.
func seed6() []byte {
	p := datagram(nil, netip.MustParseAddrPort("[fd00::1]:1000"), netip.MustParseAddrPort("[fd00::2]:53"), []byte("seed6"), -1)
	defer p.Release()
	return append([]byte(nil), p.Bytes()...)
}
