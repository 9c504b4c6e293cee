package host

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/igmp"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/mld"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The fuzzed host: eth0 10.0.0.2/24 and fd00::2/64, eth1 10.0.1.2/24 and
// fd00:1::2/64 (plus EUI-64 link-local addresses), a router of both
// families advertising its /64s, with a default gateway 10.0.0.1 on eth0.
// Peers are named after their IPv4 addresses (fd00::1 and fe80::1 are
// fzPeer01 too). FuzzInboundSLAAC runs the same addresses as a host that
// autoconfigures from advertisements instead.
var (
	fzMAC0   = stack.MAC{0x02, 0, 0, 0, 0x0a, 0x02} // our eth0
	fzMAC1   = stack.MAC{0x02, 0, 0, 0, 0x0b, 0x02} // our eth1
	fzPeer01 = stack.MAC{0x02, 0, 0, 0, 0x0a, 0x01} // 10.0.0.1, the gateway
	fzPeer05 = stack.MAC{0x02, 0, 0, 0, 0x0a, 0x05} // 10.0.0.5
	fzPeer19 = stack.MAC{0x02, 0, 0, 0, 0x0b, 0x09} // 10.0.1.9
	fzBcast  = stack.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	fzStart  = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fzOurIPs = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.1.2"),
		netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00:1::2")}
	fzTCPSeed = [32]byte{'f', 'u', 'z', 'z', 'i', 'n', 'b', 'o', 'u', 'n', 'd'}
)

// Input format of FuzzInbound: a sequence of up to fzMaxFrames frames,
// each a 2-byte big-endian header then the frame's bytes. Header bit 15
// delivers the frame to eth1 instead of eth0; bits 12-14 index fzSteps,
// how far the virtual clock advances before the frame is delivered; bit 11
// delivers the frame as is, while by default the harness first fixes the
// IPv4 header checksum and the transport checksum of an unfragmented
// packet, IPv4 or IPv6 (fzFixChecksums, so that mutations reach past the
// checksum checks); bits 0-10 are
// the frame length, clamped to fzMaxFrame (a short tail is delivered as
// is).
const (
	fzMaxFrames = 16
	fzMaxFrame  = 1518 + 4 // a full frame with one VLAN tag
	fzEth1      = 0x8000
	fzRaw       = 0x0800
	fzLenMask   = 0x07ff
)

var fzSteps = [8]time.Duration{0, time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond,
	time.Second, 3 * time.Second, 31 * time.Second, 2 * time.Minute}

// fzFrame is one frame of a fuzz input.
type fzFrame struct {
	eth1 bool
	raw  bool // deliver as is, do not fix checksums
	step int  // index into fzSteps
	b    []byte
}

func fzEncode(frames ...fzFrame) []byte {
	var out []byte
	for _, fr := range frames {
		if len(fr.b) > fzMaxFrame {
			panic(fmt.Sprintf("seed frame of %d bytes", len(fr.b)))
		}
		h := uint16(len(fr.b)) | uint16(fr.step&7)<<12
		if fr.eth1 {
			h |= fzEth1
		}
		if fr.raw {
			h |= fzRaw
		}
		out = binary.BigEndian.AppendUint16(out, h)
		out = append(out, fr.b...)
	}
	return out
}

func fzDecode(data []byte) []fzFrame {
	var frames []fzFrame
	for len(data) >= 2 && len(frames) < fzMaxFrames {
		h := binary.BigEndian.Uint16(data)
		data = data[2:]
		n := min(int(h&fzLenMask), fzMaxFrame, len(data))
		frames = append(frames, fzFrame{eth1: h&fzEth1 != 0, raw: h&fzRaw != 0, step: int(h>>12) & 7, b: data[:n]})
		data = data[n:]
	}
	return frames
}

// fzWire is what the two fuzz devices share: the frames delivered so far
// (to recognise forwarded packets), the frames the host wrote, and the
// first invariant violation.
type fzWire struct {
	mu  sync.Mutex
	in  [][]byte
	out []fzOut
	err error
}

type fzOut struct {
	dev int
	b   []byte
}

// fuzzDev is a link.Device for FuzzInbound: the test delivers frames
// synchronously through the dispatcher it was attached to, and WriteFrame
// checks and records every frame the host sends. WriteFrame never calls
// back into the stack (a protocol may write while holding a lock).
type fuzzDev struct {
	w   *fzWire
	idx int
	mac stack.MAC
	d   link.FrameDispatcher
}

func (d *fuzzDev) MTU() int                       { return 1500 }
func (d *fuzzDev) Attach(fd link.FrameDispatcher) { d.d = fd }
func (d *fuzzDev) Close() error                   { return nil }

func (d *fuzzDev) WriteFrame(p *stack.Packet) error {
	b := append([]byte(nil), p.Bytes()...)
	gso, partial := p.GSOSize, p.ChecksumPartial
	p.Release()
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	if len(d.w.out) < 4096 {
		d.w.out = append(d.w.out, fzOut{dev: d.idx, b: b})
	}
	if d.w.err != nil {
		return nil
	}
	err := fzCheckFrame(b, d.mac, d.w.in)
	if err == nil && (gso != 0 || partial) {
		err = fmt.Errorf("GSOSize %d, ChecksumPartial %v on a device without offloads", gso, partial)
	}
	if err != nil {
		stk := make([]byte, 16<<10)
		stk = stk[:runtime.Stack(stk, false)]
		d.w.err = fmt.Errorf("eth%d wrote a bad frame: %v\nframe: % x\nwriter:\n%s", d.idx, err, b, stk)
	}
	return nil
}

// fzHost is a host built for one fuzz input.
type fzHost struct {
	h    *Host
	clk  *vclock.Clock
	w    *fzWire
	devs [2]*fuzzDev
}

func newFzHost(tb testing.TB) *fzHost { return newFzHostMode(tb, true) }

// newFzHostMode builds the fuzz host as a dual-stack router (router) or as
// an IPv4 router that is an IPv6 host doing SLAAC (!router).
func newFzHostMode(tb testing.TB, router bool) *fzHost {
	tb.Helper()
	w := &fzWire{}
	fh := &fzHost{clk: vclock.New(fzStart), w: w}
	fh.devs[0] = &fuzzDev{w: w, idx: 0, mac: fzMAC0}
	fh.devs[1] = &fuzzDev{w: w, idx: 1, mac: fzMAC1}
	half := func() float64 { return 0.5 }
	var adv *ndp.AdvertiseConfig
	if router {
		adv = &ndp.AdvertiseConfig{DNS: []netip.Addr{netip.MustParseAddr("fd00::53")}}
	}
	h, err := New(Config{
		Clock: fh.clk,
		Interfaces: []Interface{
			{Name: "eth0", Device: fh.devs[0], MAC: fzMAC0, Addr: netip.MustParsePrefix("10.0.0.2/24"),
				Addrs: []netip.Prefix{netip.MustParsePrefix("fd00::2/64")}},
			{Name: "eth1", Device: fh.devs[1], MAC: fzMAC1, Addr: netip.MustParsePrefix("10.0.1.2/24"),
				Addrs: []netip.Prefix{netip.MustParsePrefix("fd00:1::2/64")}},
		},
		Gateway:   netip.MustParseAddr("10.0.0.1"),
		Advertise: adv,
		ARP:       arp.Options{Rand: half},
		IPv4:      ipv4.Options{Forwarding: true},
		IPv6:      ipv6.Options{Forwarding: router},
		NDP:       ndp.Options{Rand: half},
		MLD:       mld.Options{Jitter: func(d time.Duration) time.Duration { return d / 2 }},
		IGMP:      igmp.Options{Jitter: func(d time.Duration) time.Duration { return d / 2 }},
		TCP:       tcp.Options{Rand: rand.NewChaCha8(fzTCPSeed)},
	})
	if err != nil {
		tb.Fatalf("host.New: %v", err)
	}
	fh.h = h
	if _, err := h.Listen("tcp", ":80"); err != nil {
		h.Close()
		tb.Fatalf("Listen: %v", err)
	}
	if _, err := h.ListenPacket("udp", ":7"); err != nil {
		h.Close()
		tb.Fatalf("ListenPacket: %v", err)
	}
	return fh
}

// deliver advances the clock by fr's step and hands fr to its device's
// dispatcher. It returns the bytes delivered.
func (fh *fzHost) deliver(fr fzFrame) []byte {
	if d := fzSteps[fr.step]; d > 0 {
		fh.clk.Advance(d)
	}
	dev := fh.devs[0]
	if fr.eth1 {
		dev = fh.devs[1]
	}
	b := fr.b
	if !fr.raw {
		b = fzFixChecksums(b)
	}
	fh.w.mu.Lock()
	fh.w.in = append(fh.w.in, b)
	fh.w.mu.Unlock()
	dev.d.DeliverFrame(stack.NewPacketFrom(b))
	return b
}

func (fh *fzHost) failure() error {
	fh.w.mu.Lock()
	defer fh.w.mu.Unlock()
	return fh.w.err
}

// FuzzInbound fuzzes the whole inbound path of a complete host: a router
// of both families with two interfaces, a TCP listener on :80 and a UDP
// socket on :7, built afresh for each input with a virtual clock and
// seeded randomness. The input is a sequence of Ethernet frames (see
// fzDecode) delivered in turn through link, ARP, IPv4 (reassembly, ICMP,
// forwarding), IPv6 (extension headers, reassembly, ICMPv6, forwarding),
// NDP (with router advertisements), MLD and IGMP to TCP and UDP; then the
// clock runs two minutes so that every timer fires, and the host is
// closed. It checks that nothing panics, that every frame the host writes
// is well formed (fzCheckFrame: Ethernet, ARP, the IP headers, the
// transport checksums computed independently, ICMPv6 errors only where
// RFC 4443 2.4 allows them, decoded by gopacket without error), and that
// Close returns every pooled packet.
func FuzzInbound(f *testing.F) {
	for _, seed := range fzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fzRun(t, data, true) })
}

// FuzzInboundSLAAC is FuzzInbound with the host an IPv6 host rather than
// a router: it autoconfigures from the router advertisements the input
// carries (SLAAC addresses, default routes, RDNSS, MTU), with the same
// seed corpus.
func FuzzInboundSLAAC(f *testing.F) {
	for _, seed := range fzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fzRun(t, data, false) })
}

func fzRun(t *testing.T, data []byte, router bool) {
	frames := fzDecode(data)
	live := stack.LivePackets()
	fh := newFzHostMode(t, router)
	for _, fr := range frames {
		b := fh.deliver(fr)
		if err := fh.failure(); err != nil {
			fh.h.Close()
			t.Fatalf("after delivering % x to eth%d: %v", b, fzIndex(fr.eth1), err)
		}
	}
	for _, d := range []time.Duration{time.Second, 10 * time.Second, 2 * time.Minute} {
		fh.clk.Advance(d)
	}
	if err := fh.failure(); err != nil {
		fh.h.Close()
		t.Fatalf("after the clock ran: %v", err)
	}
	if err := fh.h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := fh.failure(); err != nil {
		t.Fatalf("during Close: %v", err)
	}
	if n := stack.LivePackets(); n > live {
		t.Fatalf("%d live packets after Close, %d before the input", n, live)
	}
}

func fzIndex(eth1 bool) int {
	if eth1 {
		return 1
	}
	return 0
}
