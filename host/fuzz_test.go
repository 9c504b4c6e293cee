package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The fuzzed host: eth0 10.0.0.2/24 and eth1 10.0.1.2/24, a router with a
// default gateway 10.0.0.1 on eth0. Peers are named after their addresses.
var (
	fzMAC0    = stack.MAC{0x02, 0, 0, 0, 0x0a, 0x02} // our eth0
	fzMAC1    = stack.MAC{0x02, 0, 0, 0, 0x0b, 0x02} // our eth1
	fzPeer01  = stack.MAC{0x02, 0, 0, 0, 0x0a, 0x01} // 10.0.0.1, the gateway
	fzPeer05  = stack.MAC{0x02, 0, 0, 0, 0x0a, 0x05} // 10.0.0.5
	fzPeer19  = stack.MAC{0x02, 0, 0, 0, 0x0b, 0x09} // 10.0.1.9
	fzBcast   = stack.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	fzStart   = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fzOurIPs  = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.1.2")}
	fzTCPSeed = [32]byte{'f', 'u', 'z', 'z', 'i', 'n', 'b', 'o', 'u', 'n', 'd'}
)

// Input format of FuzzInbound: a sequence of up to fzMaxFrames frames,
// each a 2-byte big-endian header then the frame's bytes. Header bit 15
// delivers the frame to eth1 instead of eth0; bits 12-14 index fzSteps,
// how far the virtual clock advances before the frame is delivered; bit 11
// delivers the frame as is, while by default the harness first fixes the
// IPv4 header checksum and the transport checksum of an unfragmented
// packet (so that mutations reach past the checksum checks); bits 0-10 are
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

// fzCheckFrame checks one frame the host wrote on the interface with
// address mac; in are the frames delivered to the host so far.
func fzCheckFrame(b []byte, mac stack.MAC, in [][]byte) error {
	if len(b) < link.EthernetHeaderLen {
		return fmt.Errorf("frame of %d bytes", len(b))
	}
	if len(b) > link.EthernetHeaderLen+1500 {
		return fmt.Errorf("frame of %d bytes over the 1500-byte MTU", len(b))
	}
	if src := stack.MAC(b[6:12]); src != mac {
		return fmt.Errorf("source MAC %v, want the interface's %v", src, mac)
	}
	payload := b[link.EthernetHeaderLen:]
	switch et := binary.BigEndian.Uint16(b[12:14]); et {
	case stack.EtherTypeARP:
		return fzCheckARP(b, mac)
	case stack.EtherTypeIPv4:
		return fzCheckIPv4(b, payload, in)
	case stack.EtherTypeIPv6:
		return fzCheckIPv6(b, payload, in)
	default:
		return fmt.Errorf("EtherType %#04x", et)
	}
}

func fzCheckARP(b []byte, mac stack.MAC) error {
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	a, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok {
		return errors.New("gopacket found no ARP layer")
	}
	switch {
	case a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 || a.HwAddressSize != 6 || a.ProtAddressSize != 4:
		return fmt.Errorf("ARP of hardware %v/%d protocol %v/%d", a.AddrType, a.HwAddressSize, a.Protocol, a.ProtAddressSize)
	case a.Operation != layers.ARPRequest && a.Operation != layers.ARPReply:
		return fmt.Errorf("ARP operation %d", a.Operation)
	case !bytes.Equal(a.SourceHwAddress, mac[:]):
		return fmt.Errorf("ARP sender MAC %v, want %v", net.HardwareAddr(a.SourceHwAddress), mac)
	}
	return nil
}

func fzCheckIPv4(b, p []byte, in [][]byte) error {
	if len(p) < 20 {
		return fmt.Errorf("IPv4 packet of %d bytes", len(p))
	}
	if v := p[0] >> 4; v != 4 {
		return fmt.Errorf("IP version %d", v)
	}
	ihl := int(p[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	switch {
	case ihl < 20 || ihl > len(p):
		return fmt.Errorf("IPv4 header length %d in %d bytes", ihl, len(p))
	case total < ihl || total > len(p):
		return fmt.Errorf("IPv4 total length %d, header %d, frame payload %d", total, ihl, len(p))
	case fzFold(fzSum(p[:ihl], 0)) != 0xffff:
		return errors.New("bad IPv4 header checksum")
	case p[8] == 0:
		return errors.New("TTL 0")
	}
	seg := p[ihl:total]
	// A router forwards transport data unchecked and unchanged: a packet
	// whose IP payload was delivered to us verbatim may be forwarded, and
	// its transport header is only as good as the fuzzer made it.
	for _, f := range in {
		if bytes.Contains(f, seg) {
			return nil
		}
	}
	src, _ := netip.AddrFromSlice(p[12:16])
	if !fzIsOurs(src) {
		return fmt.Errorf("source %v of a packet we made", src)
	}
	pkt := gopacket.NewPacket(b[:link.EthernetHeaderLen+total], layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	flags := binary.BigEndian.Uint16(p[6:8])
	if flags&0x2000 != 0 || flags&0x1fff != 0 {
		return nil // a fragment: the transport checksum spans all of them
	}
	proto := p[9]
	pseudo := fzSum(p[12:20], uint64(proto)+uint64(len(seg)))
	switch proto {
	case stack.ProtocolICMP:
		if len(seg) < 8 || fzFold(fzSum(seg, 0)) != 0xffff {
			return fmt.Errorf("bad ICMP message (%d bytes)", len(seg))
		}
	case stack.ProtocolTCP:
		if len(seg) < 20 || fzFold(fzSum(seg, pseudo)) != 0xffff {
			return fmt.Errorf("bad TCP segment (%d bytes)", len(seg))
		}
	case stack.ProtocolUDP:
		switch {
		case len(seg) < 8:
			return fmt.Errorf("UDP datagram of %d bytes", len(seg))
		case int(binary.BigEndian.Uint16(seg[4:6])) != len(seg):
			return fmt.Errorf("UDP length %d in %d bytes", binary.BigEndian.Uint16(seg[4:6]), len(seg))
		case binary.BigEndian.Uint16(seg[6:8]) != 0 && fzFold(fzSum(seg, pseudo)) != 0xffff:
			return errors.New("bad UDP checksum")
		}
	}
	return nil
}

// fzCheckIPv6 checks an IPv6 packet we sent: a well-formed header whose
// payload length fits the frame, a hop limit, and, unless its payload was
// delivered to us verbatim (forwarded), one of our addresses (or ::, DAD)
// as source and gopacket decoding it without error.
func fzCheckIPv6(b, p []byte, in [][]byte) error {
	if len(p) < 40 {
		return fmt.Errorf("IPv6 packet of %d bytes", len(p))
	}
	if v := p[0] >> 4; v != 6 {
		return fmt.Errorf("IP version %d in an IPv6 frame", v)
	}
	plen := int(binary.BigEndian.Uint16(p[4:6]))
	switch {
	case 40+plen > len(p):
		return fmt.Errorf("IPv6 payload length %d in %d bytes", plen, len(p)-40)
	case p[7] == 0:
		return errors.New("hop limit 0")
	}
	seg := p[40 : 40+plen]
	for _, f := range in {
		if bytes.Contains(f, seg) {
			return nil
		}
	}
	src, _ := netip.AddrFromSlice(p[8:24])
	if !fzIsOurs(src) && !src.IsUnspecified() && !src.IsLinkLocalUnicast() {
		return fmt.Errorf("source %v of a packet we made", src)
	}
	pkt := gopacket.NewPacket(b[:link.EthernetHeaderLen+40+plen], layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	return nil
}

func fzIsOurs(a netip.Addr) bool {
	for _, o := range fzOurIPs {
		if a == o {
			return true
		}
	}
	return false
}

// fzSum and fzFold are a plain RFC 1071 checksum, independent of the
// stack's internal/checksum.
func fzSum(b []byte, s uint64) uint64 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint64(b[0])<<8 | uint64(b[1])
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fzFold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// fzHost is a host built for one fuzz input.
type fzHost struct {
	h    *Host
	clk  *vclock.Clock
	w    *fzWire
	devs [2]*fuzzDev
}

func newFzHost(tb testing.TB) *fzHost {
	tb.Helper()
	w := &fzWire{}
	fh := &fzHost{clk: vclock.New(fzStart), w: w}
	fh.devs[0] = &fuzzDev{w: w, idx: 0, mac: fzMAC0}
	fh.devs[1] = &fuzzDev{w: w, idx: 1, mac: fzMAC1}
	h, err := New(Config{
		Clock: fh.clk,
		Interfaces: []Interface{
			{Name: "eth0", Device: fh.devs[0], MAC: fzMAC0, Addr: netip.MustParsePrefix("10.0.0.2/24")},
			{Name: "eth1", Device: fh.devs[1], MAC: fzMAC1, Addr: netip.MustParsePrefix("10.0.1.2/24")},
		},
		Gateway: netip.MustParseAddr("10.0.0.1"),
		ARP:     arp.Options{Rand: func() float64 { return 0.5 }},
		IPv4:    ipv4.Options{Forwarding: true},
		TCP:     tcp.Options{Rand: rand.NewChaCha8(fzTCPSeed)},
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

// fzFixChecksums returns f, or a copy of it with the IPv4 header checksum
// and the ICMP, TCP or UDP checksum of an unfragmented packet set right
// (a zero UDP checksum, "none", is left alone). Lengths are not touched.
func fzFixChecksums(f []byte) []byte {
	if len(f) < link.EthernetHeaderLen+20 || binary.BigEndian.Uint16(f[12:14]) != stack.EtherTypeIPv4 {
		return f
	}
	b := append([]byte(nil), f...)
	p := b[link.EthernetHeaderLen:]
	ihl := int(p[0]&0xf) * 4
	if p[0]>>4 != 4 || ihl < 20 || ihl > len(p) {
		return b
	}
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:12], ^fzFold(fzSum(p[:ihl], 0)))
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if total < ihl || total > len(p) || binary.BigEndian.Uint16(p[6:8])&0x3fff != 0 {
		return b
	}
	seg := p[ihl:total]
	var off int
	switch p[9] {
	case stack.ProtocolICMP:
		off = 2
	case stack.ProtocolTCP:
		off = 16
	case stack.ProtocolUDP:
		off = 6
		if len(seg) < 8 || seg[6] == 0 && seg[7] == 0 {
			return b
		}
		if n := int(binary.BigEndian.Uint16(seg[4:6])); n >= 8 && n < len(seg) {
			seg = seg[:n]
		}
	default:
		return b
	}
	if len(seg) < off+2 {
		return b
	}
	seg[off], seg[off+1] = 0, 0
	var sum uint64
	if p[9] != stack.ProtocolICMP {
		sum = fzSum(p[12:20], uint64(p[9])+uint64(len(seg)))
	}
	c := ^fzFold(fzSum(seg, sum))
	if c == 0 && p[9] == stack.ProtocolUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:off+2], c)
	return b
}

func (fh *fzHost) failure() error {
	fh.w.mu.Lock()
	defer fh.w.mu.Unlock()
	return fh.w.err
}

// FuzzInbound fuzzes the whole inbound path of a complete host: a router
// with two interfaces, a TCP listener on :80 and a UDP socket on :7, built
// afresh for each input with a virtual clock and seeded randomness. The
// input is a sequence of Ethernet frames (see fzDecode) delivered in turn
// through link, ARP and IPv4 (reassembly, ICMP, forwarding) to TCP and
// UDP; then the clock runs two minutes so that every timer fires, and the
// host is closed. It checks that nothing panics, that every frame the host
// writes is well formed (Ethernet, ARP, IPv4 header and checksum, and the
// transport checksum of every unfragmented packet the host made itself,
// decoded by gopacket without error), and that Close returns every
// pooled packet.
func FuzzInbound(f *testing.F) {
	for _, seed := range fzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := fzDecode(data)
		live := stack.LivePackets()
		fh := newFzHost(t)
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
	})
}

func fzIndex(eth1 bool) int {
	if eth1 {
		return 1
	}
	return 0
}

// Seed frames, built with gopacket.

func fzHW(m stack.MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }

func fzIP(s string) net.IP { return net.ParseIP(s).To4() }

func fzSerialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func fzEth(dst, src stack.MAC, t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{DstMAC: fzHW(dst), SrcMAC: fzHW(src), EthernetType: t}
}

func fzIPv4(src, dst string, proto layers.IPProtocol, ttl uint8) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: 0x4242, Protocol: proto, SrcIP: fzIP(src), DstIP: fzIP(dst)}
}

func fzARP(op uint16, srcMAC stack.MAC, srcIP string, dstMAC stack.MAC, dstIP string) *layers.ARP {
	return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: fzHW(srcMAC), SourceProtAddress: fzIP(srcIP), DstHwAddress: fzHW(dstMAC), DstProtAddress: fzIP(dstIP)}
}

// fzARPFrame is an ARP request (broadcast) or reply (to our eth0 or eth1).
func fzARPFrame(op uint16, srcMAC stack.MAC, srcIP string, dstMAC stack.MAC, dstIP string) []byte {
	ethDst := fzBcast
	if op == layers.ARPReply {
		ethDst = dstMAC
	}
	return fzSerialize(fzEth(ethDst, srcMAC, layers.EthernetTypeARP), fzARP(op, srcMAC, srcIP, stack.MAC{}, dstIP))
}

func fzEcho(dst, src stack.MAC, srcIP, dstIP string, ttl uint8, data []byte) []byte {
	return fzSerialize(fzEth(dst, src, layers.EthernetTypeIPv4), fzIPv4(srcIP, dstIP, layers.IPProtocolICMPv4, ttl),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}, gopacket.Payload(data))
}

func fzUDP(dst, src stack.MAC, srcIP, dstIP string, ttl uint8, dport uint16, data []byte) []byte {
	ip := fzIPv4(srcIP, dstIP, layers.IPProtocolUDP, ttl)
	u := &layers.UDP{SrcPort: 5353, DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return fzSerialize(fzEth(dst, src, layers.EthernetTypeIPv4), ip, u, gopacket.Payload(data))
}

func fzTCP(dst, src stack.MAC, srcIP, dstIP string, seg *layers.TCP, data []byte) []byte {
	ip := fzIPv4(srcIP, dstIP, layers.IPProtocolTCP, 64)
	seg.SetNetworkLayerForChecksum(ip)
	return fzSerialize(fzEth(dst, src, layers.EthernetTypeIPv4), ip, seg, gopacket.Payload(data))
}

// fzFragments serializes the transport layers ls of a packet from srcIP
// to dstIP and cuts its payload into IPv4 fragments of at most size bytes
// (a multiple of 8).
func fzFragments(srcIP, dstIP string, proto layers.IPProtocol, size int, ls ...gopacket.SerializableLayer) [][]byte {
	payload := fzSerialize(ls...)
	var frames [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		ip := fzIPv4(srcIP, dstIP, proto, 64)
		ip.FragOffset = uint16(off / 8)
		if end < len(payload) {
			ip.Flags = layers.IPv4MoreFragments
		}
		frames = append(frames, fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeIPv4), ip, gopacket.Payload(payload[off:end])))
	}
	return frames
}

func fzSeeds(tb testing.TB) [][]byte {
	arpReq := fzFrame{b: fzARPFrame(layers.ARPRequest, fzPeer01, "10.0.0.1", stack.MAC{}, "10.0.0.2")}
	arpReq1 := fzFrame{eth1: true, b: fzARPFrame(layers.ARPRequest, fzPeer19, "10.0.1.9", stack.MAC{}, "10.0.1.2")}
	arpReply19 := fzFrame{eth1: true, step: 2, b: fzARPFrame(layers.ARPReply, fzPeer19, "10.0.1.9", fzMAC1, "10.0.1.2")}
	echo := fzFrame{b: fzEcho(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", 64, []byte("ping"))}
	syn := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true, Window: 65535,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}}
	synFrame := fzFrame{b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", syn, nil)}

	udpFrags := fzFragments("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP, 56, func() []gopacket.SerializableLayer {
		u := &layers.UDP{SrcPort: 5353, DstPort: 7}
		u.SetNetworkLayerForChecksum(fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP, 64))
		return []gopacket.SerializableLayer{u, gopacket.Payload(bytes.Repeat([]byte("fragmented "), 9))}
	}()...)
	bigEcho := fzFragments("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 1480,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 8, Seq: 2},
		gopacket.Payload(bytes.Repeat([]byte{0xa5}, 2000)))
	if len(udpFrags) != 2 || len(bigEcho) != 2 {
		panic("seed datagrams are not cut in two fragments")
	}

	rr := fzIPv4("10.0.0.1", "10.0.1.9", layers.IPProtocolUDP, 64)
	rr.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}}
	rrUDP := &layers.UDP{SrcPort: 5353, DstPort: 9}
	rrUDP.SetNetworkLayerForChecksum(rr)
	recordRoute := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeIPv4), rr, rrUDP, gopacket.Payload("route"))

	dot1q := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
		fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 64),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 3}, gopacket.Payload("tagged"))

	// Issue 13: a priority-tagged echo (answered untagged), a ping -R
	// (answered with the route recorded) and a martian echo (dropped).
	prio := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeDot1Q), &layers.Dot1Q{Priority: 6, VLANIdentifier: 0, Type: layers.EthernetTypeIPv4},
		fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 64),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 4}, gopacket.Payload("priority"))
	pingR := fzIPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4, 64)
	pingR.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 7, OptionLength: 39, OptionData: append([]byte{4}, make([]byte, 36)...)}}
	pingRFrame := fzSerialize(fzEth(fzMAC0, fzPeer01, layers.EthernetTypeIPv4), pingR,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 9, Seq: 5}, gopacket.Payload("ping -R"))

	seeds := [][]fzFrame{
		{arpReq, {b: prio}},
		{arpReq, {b: pingRFrame}},
		{arpReq, {b: fzEcho(fzMAC0, fzPeer01, "127.0.0.1", "10.0.0.2", 64, []byte("martian"))}},
		{arpReq},
		{echo},
		{arpReq, echo},
		{arpReq, synFrame},
		{arpReq, {b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", &layers.TCP{SrcPort: 40001, DstPort: 81, Seq: 5, SYN: true, Window: 1024}, nil)}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", 64, 7, []byte("echo me"))}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", 64, 9, []byte("closed port"))}},
		{arpReq, {b: udpFrags[0]}, {b: udpFrags[1]}},
		{arpReq, {b: udpFrags[1]}, {b: udpFrags[0]}},
		{arpReq, {b: udpFrags[0]}, {step: 6, b: udpFrags[1]}},
		{arpReq, {b: bigEcho[0]}, {b: bigEcho[1]}},
		{{b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.1.9", 64, 9, []byte("forward me"))}, arpReply19},
		{arpReq1, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.1.9", 64, 9, []byte("forward me"))}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.1.9", 1, 9, []byte("ttl 1"))}},
		{arpReq, {b: fzUDP(fzMAC0, fzPeer05, "10.0.0.5", "192.0.2.1", 64, 9, []byte("redirect me"))}},
		{arpReq1, {eth1: true, b: fzUDP(fzMAC1, fzPeer19, "10.0.1.9", "192.0.2.1", 64, 9, []byte("to the gateway"))}, {step: 1, b: arpReq.b}},
		{{b: recordRoute}, arpReply19},
		{arpReq1, {eth1: true, b: fzEcho(fzMAC1, fzPeer19, "10.0.1.9", "10.0.1.2", 64, []byte("ping eth1"))}},
		{arpReq, {b: dot1q}},
		{arpReq, {b: fzUDP(fzBcast, fzPeer01, "10.0.0.1", "10.0.0.255", 64, 7, []byte("broadcast"))}},
		{arpReq, {b: fzEcho(fzBcast, fzPeer01, "10.0.0.1", "10.0.0.255", 64, []byte("ping all"))}},
		{arpReq, {b: fzUDP(fzBcast, fzPeer01, "10.0.0.1", "255.255.255.255", 64, 9, []byte("limited broadcast"))}},
		{arpReq, {raw: true, b: fzCorrupt(echo.b, link.EthernetHeaderLen+10)}},        // bad IPv4 header checksum
		{arpReq, {raw: true, b: fzCorrupt(synFrame.b, link.EthernetHeaderLen+20+16)}}, // bad TCP checksum
	}
	var out [][]byte
	for _, s := range seeds {
		out = append(out, fzEncode(s...))
	}
	return append(out, fzEncode(fzHandshake(tb, arpReq, synFrame)...))
}

// fzCorrupt returns a copy of b with the byte at i flipped.
func fzCorrupt(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}

// fzHandshake completes the handshake that arpReq and synFrame start:
// it runs them on a host, reads the SYN-ACK (the host is deterministic, so
// a fuzz run sees the same one) and answers with an ACK carrying a
// request, then a FIN.
func fzHandshake(tb testing.TB, arpReq, synFrame fzFrame) []fzFrame {
	fh := newFzHost(tb)
	defer fh.h.Close()
	fh.deliver(arpReq)
	fh.deliver(synFrame)
	fh.w.mu.Lock()
	out := append([]fzOut(nil), fh.w.out...)
	fh.w.mu.Unlock()
	for _, o := range out {
		pkt := gopacket.NewPacket(o.b, layers.LayerTypeEthernet, gopacket.Default)
		seg, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !seg.SYN || !seg.ACK {
			continue
		}
		req := []byte("GET / HTTP/1.0\r\n\r\n")
		ack := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: seg.Seq + 1, ACK: true, PSH: true, Window: 65535}
		fin := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1001 + uint32(len(req)), Ack: seg.Seq + 1, ACK: true, FIN: true, Window: 65535}
		return []fzFrame{arpReq, synFrame,
			{step: 1, b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", ack, req)},
			{step: 2, b: fzTCP(fzMAC0, fzPeer01, "10.0.0.1", "10.0.0.2", fin, nil)}}
	}
	tb.Fatalf("no SYN-ACK among %d frames the host wrote", len(out))
	return nil
}
