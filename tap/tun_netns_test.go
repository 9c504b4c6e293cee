package tap

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/stack"
)

// echoRequest builds a bare IPv4 ICMP echo request from src to dst.
func echoRequest(src, dst netip.Addr, id uint16) *stack.Packet {
	p := stack.NewPacket(stack.Headroom, 20+8+4)
	b := p.Bytes()
	clear(b) // pooled: contents unspecified
	b[0], b[8], b[9] = 0x45, 64, stack.ProtocolICMP
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], checksum.Checksum(b[:20], 0))
	icmp := b[20:]
	icmp[0] = 8 // echo request
	binary.BigEndian.PutUint16(icmp[4:], id)
	copy(icmp[8:], "tun!")
	binary.BigEndian.PutUint16(icmp[2:], checksum.Checksum(icmp, 0))
	return p
}

// A TUN carries bare IP packets both ways: an echo request written to it
// reaches the kernel, whose echo reply comes back through the reader with
// no Ethernet header; with offloads and without, and writing allocates
// nothing.
func TestTUNEchoRoundTripAndZeroAllocs(t *testing.T) {
	for _, noOffload := range []bool{false, true} {
		ns := netnstest.New(t)
		d := openIn(t, ns, Config{Name: "tun0", Mode: TUN, NoOffload: noOffload, Queues: 2})
		if !d.IsL3() || d.Mode() != TUN {
			t.Fatalf("IsL3 %v, Mode %v", d.IsL3(), d.Mode())
		}
		if out, err := ns.Cmd("ip", "addr", "add", "10.88.0.1/24", "dev", "tun0").CombinedOutput(); err != nil {
			t.Fatalf("ip addr: %v\n%s", err, out)
		}
		got := make(frames, 16)
		d.Attach(got)
		src, dst := netip.MustParseAddr("10.88.0.2"), netip.MustParseAddr("10.88.0.1")
		if err := d.WriteFrame(echoRequest(src, dst, 7)); err != nil {
			t.Fatal(err)
		}
		var reply *stack.Packet
		guard := time.After(10 * time.Second) // a failure guard only
		for reply == nil {
			select {
			case p := <-got:
				if p.Len() > 0 && p.Bytes()[0]>>4 == 6 { // the kernel's own IPv6 (RS, MLD)
					p.Release()
					continue
				}
				reply = p
			case <-guard:
				o1, _ := ns.Output("ip", "-s", "link", "show", "tun0")
				o2, _ := ns.Output("nstat", "-az", "IpInReceives", "IpInHdrErrors", "IpInAddrErrors", "IcmpInEchos", "IcmpOutEchoReps", "IpExtInNoRoutes", "IcmpInErrors", "IpInDiscards", "TcpExtIPReversePathFilter")
				t.Logf("%s\n%s", o1, o2)
				t.Fatalf("offload %v: no echo reply through the TUN", !noOffload)
			}
		}
		b := reply.Bytes()
		if len(b) < 28 || b[0]>>4 != 4 || b[9] != stack.ProtocolICMP || b[20] != 0 ||
			netip.AddrFrom4([4]byte(b[12:16])) != dst || netip.AddrFrom4([4]byte(b[16:20])) != src {
			t.Errorf("offload %v: reply % x is not a bare IPv4 echo reply from %v to %v", !noOffload, b, dst, src)
		}
		reply.Release()
		// A fresh pooled packet each time: the vnet header is pushed into
		// the packet's headroom.
		if n := testing.AllocsPerRun(100, func() {
			if err := d.WriteFrame(echoRequest(src, dst, 8)); err != nil {
				t.Fatal(err)
			}
		}); n != 0 && !raceEnabled {
			t.Errorf("offload %v: WriteFrame on a TUN: %v allocs per packet", !noOffload, n)
		}
	}
}
