package tcp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// FuzzHandleSegment feeds arbitrary segments into a listening port and an
// established connection; nothing may panic, and every packet is released.
func FuzzHandleSegment(f *testing.F) {
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, FlagSYN, 0xff, 0xff, 0, 0, 0, 0}, false, uint32(0))
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, FlagACK | FlagPSH, 0xff, 0xff, 0, 0, 0, 0, 'x'}, true, uint32(1))
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, FlagRST, 0xff, 0xff, 0, 0, 0, 0}, true, uint32(0))
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, FlagSYN, 0xff, 0xff, 0, 0, 0, 0, 3, 3, 14, 0}, false, uint32(7))

	fuzzSegments(f, newFuzzRig(f))
}

// FuzzHandleSegmentIPv6 is FuzzHandleSegment over IPv6, with a dual-stack
// listener on [::]:80 and the connection between fd00::2 and fd00::1.
func FuzzHandleSegmentIPv6(f *testing.F) {
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, FlagSYN, 0xff, 0xff, 0, 0, 0, 0}, false, uint32(0))
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, FlagACK, 0xff, 0xff, 0, 0, 0, 0}, false, uint32(0))
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, FlagACK | FlagPSH, 0xff, 0xff, 0, 0, 0, 0, 'x'}, true, uint32(1))
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, FlagSYN, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xa0}, false, uint32(7))
	fuzzSegments(f, newFuzzRigOver(f, &sinkIP6{}, "fd00::2/64", "fd00::1", "[::]:80"))
}

func fuzzSegments(f *testing.F, rig *fuzzRig) {
	f.Fuzz(func(t *testing.T, b []byte, toConn bool, ackDelta uint32) {
		if len(b) > 4096 {
			return // keeps minimization quick; larger segments add nothing
		}
		rig.run(t, b, toConn, ackDelta)
	})
}

type fuzzRig struct {
	p             *Protocol
	e             *endpoint
	nic           *stack.NIC
	remote, local netip.Addr
}

// newFuzzRig is a stack with a listener on port 80 and an established
// connection on port 81 (peer 10.0.0.1:40000), sending into a sink.
func newFuzzRig(tb testing.TB) *fuzzRig {
	return newFuzzRigOver(tb, &sinkIP{}, "10.0.0.2/24", "10.0.0.1", "0.0.0.0:80")
}

// newFuzzRigOver is newFuzzRig with the NIC's prefix, the peer's address
// and the listener's address given (ip writes their family).
func newFuzzRigOver(tb testing.TB, ip stack.NetworkProtocol, prefix, peer, listen string) *fuzzRig {
	s := stack.New(stack.Options{Clock: frozenClock{}})
	s.RegisterNetwork(ip)
	p, err := Register(s, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	nic, _ := s.AddNIC("eth0", nullLink{1500})
	nic.AddAddress(netip.MustParsePrefix(prefix))
	if _, err := Listen(s, netip.MustParseAddrPort(listen)); err != nil {
		tb.Fatal(err)
	}
	remote := netip.MustParseAddr(peer)
	local := netip.MustParsePrefix(prefix).Addr()
	r, _ := s.FindRoute(remote, local)
	e := newEndpoint(p, tuple{netip.AddrPortFrom(local, 81), netip.AddrPortFrom(remote, 40000)}, r)
	e.mu.Lock()
	e.c.acceptSyn(frozenNow, &segment{seq: 1, flags: FlagSYN, wnd: 65535})
	e.c.handleSegment(frozenNow, &segment{seq: 2, ack: e.c.iss + 1, flags: FlagACK, wnd: 65535})
	e.dropQueued()
	e.c.takeEvents()
	e.mu.Unlock()
	p.addConn(e)
	tb.Cleanup(func() { s.Close() })
	return &fuzzRig{p: p, e: e, nic: nic, remote: remote, local: local}
}

func (r *fuzzRig) run(t testing.TB, b []byte, toConn bool, ackDelta uint32) {
	if len(b) >= 20 && toConn {
		binary.BigEndian.PutUint16(b[0:], 40000)
		binary.BigEndian.PutUint16(b[2:], 81)
		r.e.mu.Lock()
		binary.BigEndian.PutUint32(b[8:], uint32(r.e.c.sndUna)+ackDelta%4)
		r.e.mu.Unlock()
	}
	before := stack.LivePackets()
	pkt := stack.NewPacketFrom(b)
	pkt.Src, pkt.Dst, pkt.NIC, pkt.ChecksumOK = r.remote, r.local, r.nic, true
	if !r.p.HandlePacket(pkt) {
		pkt.Release()
	}
	if n := stack.LivePackets(); n != before {
		t.Fatalf("packet leak: %d -> %d", before, n)
	}
}

// sinkIP is an IPWriter that discards what it is given.
type sinkIP struct{}

func (*sinkIP) EtherType() uint16            { return stack.EtherTypeIPv4 }
func (*sinkIP) HandlePacket(p *stack.Packet) { p.Release() }
func (*sinkIP) WritePacket(_ *stack.Route, _ stack.NetworkParams, p *stack.Packet) error {
	p.Release()
	return nil
}

// frozenClock never fires its timers, so fuzzing is deterministic and
// single-threaded.
type frozenClock struct{}

var frozenNow = time.Unix(1_700_000_000, 0)

func (frozenClock) Now() time.Time                              { return frozenNow }
func (frozenClock) AfterFunc(time.Duration, func()) stack.Timer { return frozenTimer{} }

type frozenTimer struct{}

func (frozenTimer) Stop() bool               { return true }
func (frozenTimer) Reset(time.Duration) bool { return true }
