package tap

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// openOffload opens an offloading TAP in ns, skipping the test when the
// kernel refuses the offloads (Open then falls back to a plain TAP).
func openOffload(t *testing.T, ns *netnstest.NS, name string) *Device {
	t.Helper()
	d := openIn(t, ns, Config{Name: name, Bridge: "br0"})
	if !d.Offload() {
		t.Skip("the kernel refused IFF_VNET_HDR/TUNSETOFFLOAD")
	}
	if d.GSOMaxSize() != MaxGSOSize || !d.ChecksumOffload() {
		t.Fatalf("GSOMaxSize %d, ChecksumOffload %v", d.GSOMaxSize(), d.ChecksumOffload())
	}
	return d
}

// TestOffloadReceivesSuperSegments: a Linux TCP sender on the bridge hands
// a tapstack host (over an offloading TAP) segments larger than the MTU,
// and the data arrives intact.
func TestOffloadReceivesSuperSegments(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "10.0.0.1/24")
	dev := openOffload(t, ns, "tapo")
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Device: dev, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.Listen("tcp", ":5001")
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	var c net.Conn
	if err := ns.Run(func() (err error) {
		c, err = net.DialTimeout("tcp4", "10.0.0.2:5001", 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, data) {
			t.Fatalf("received %d bytes, not the %d sent", len(b), size)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("transfer did not finish")
	}
	s := dev.Stats()
	t.Logf("stats %+v (%.0f bytes per frame)", s, float64(s.RxBytes)/float64(s.RxFrames))
	if s.RxGSO == 0 {
		t.Errorf("no super-segment received: %+v", s)
	}
	if s.RxBytes/s.RxFrames <= 1514 {
		t.Errorf("frames average %d bytes, not more than the MTU", s.RxBytes/s.RxFrames)
	}
	if s.RxChecksumOK == 0 {
		t.Errorf("no frame came with NEEDS_CSUM or DATA_VALID: %+v", s)
	}
	if bad := h.Stack().Counters().Get("tcp.rx.bad_checksum").Load(); bad != 0 {
		t.Errorf("tcp counted %d bad checksums", bad)
	}
}

// bridgedPair opens an offloading TAP and a plain TAP on one bridge: what
// the first writes, the kernel forwards to the second, completing
// checksums and segmenting in software on the way (a plain TAP offers no
// offloads), so the second's reader sees what a wire would carry.
func bridgedPair(t *testing.T) (tx *Device, rx frames) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "")
	tx = openOffload(t, ns, "tapo")
	plain := openIn(t, ns, Config{Name: "tapp", Bridge: "br0", NoOffload: true})
	tx.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) { p.Release() }))
	rx = make(frames, 256)
	plain.Attach(rx)
	return tx, rx
}

// nextIPv4 returns the next frame from rx carrying IPv4 proto, or fails.
func nextIPv4(t *testing.T, rx frames, proto uint8) []byte {
	t.Helper()
	guard := time.After(10 * time.Second)
	for {
		select {
		case p := <-rx:
			b := append([]byte(nil), p.Bytes()...)
			p.Release()
			if len(b) >= 34 && binary.BigEndian.Uint16(b[12:]) == stack.EtherTypeIPv4 && b[23] == proto {
				return b
			}
		case <-guard:
			t.Fatal("no frame arrived through the bridge")
		}
	}
}

// TestOffloadChecksumPartialTx: a UDP datagram written with only its
// pseudo-header sum and ChecksumPartial leaves the kernel with a valid
// checksum.
func TestOffloadChecksumPartialTx(t *testing.T) {
	tx, rx := bridgedPair(t)
	payload := bytes.Repeat([]byte("offload!"), 100)
	p := stack.NewPacketFrom(ipv4Frame(0, stack.ProtocolUDP, udpDatagram(payload)))
	p.ChecksumPartial = true
	if err := tx.WriteFrame(p); err != nil {
		t.Fatal(err)
	}
	f := nextIPv4(t, rx, stack.ProtocolUDP)
	seg := f[34:]
	if !bytes.Equal(seg[8:], payload) {
		t.Fatal("payload changed")
	}
	if s := checksum.Sum(seg, checksum.PseudoHeader(srcIP, dstIP, stack.ProtocolUDP, uint16(len(seg)))); s != 0xffff {
		t.Fatalf("UDP checksum does not verify (sum %#04x)", s)
	}
	if st := tx.Stats(); st.TxChecksumPartial != 1 {
		t.Fatalf("TxChecksumPartial = %d, want 1", st.TxChecksumPartial)
	}
}

// TestOffloadGSOTx: a 20 KiB TCP segment written with GSOSize 1448 leaves
// the kernel as 1448-byte segments with consecutive sequence numbers,
// valid checksums and the original payload.
func TestOffloadGSOTx(t *testing.T) {
	tx, rx := bridgedPair(t)
	const mss, total, seq0 = 1448, 20 << 10, 1000000
	payload := make([]byte, total)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	p := stack.NewPacketFrom(ipv4Frame(0, stack.ProtocolTCP, tcpSegment(5, seq0, payload)))
	p.GSOSize, p.ChecksumPartial = mss, true
	if err := tx.WriteFrame(p); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for n := 0; len(got) < total; n++ {
		f := nextIPv4(t, rx, stack.ProtocolTCP)
		ip := f[14:]
		ipLen := int(binary.BigEndian.Uint16(ip[2:]))
		if ipLen+14 != len(f) {
			t.Fatalf("segment %d: IP total length %d in a %d-byte frame", n, ipLen, len(f))
		}
		if checksum.Sum(ip[:20], 0) != 0xffff {
			t.Fatalf("segment %d: bad IP header checksum", n)
		}
		seg := ip[20:ipLen]
		if s := checksum.Sum(seg, checksum.PseudoHeader(srcIP, dstIP, stack.ProtocolTCP, uint16(len(seg)))); s != 0xffff {
			t.Fatalf("segment %d: TCP checksum does not verify (sum %#04x)", n, s)
		}
		data := seg[20:]
		if len(data) > mss || (len(got)+len(data) < total && len(data) != mss) {
			t.Fatalf("segment %d carries %d bytes, want %d", n, len(data), mss)
		}
		if s := binary.BigEndian.Uint32(seg[4:]); s != seq0+uint32(len(got)) {
			t.Fatalf("segment %d: seq %d, want %d", n, s, seq0+len(got))
		}
		got = append(got, data...)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("segmented payload differs from the original")
	}
	if st := tx.Stats(); st.TxGSO != 1 {
		t.Fatalf("TxGSO = %d, want 1", st.TxGSO)
	}
}

// TestOffloadZeroAllocs: writing with a virtio-net header and the vnet
// receive path allocate nothing per frame.
func TestOffloadZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on channel operations")
	}
	tx, rx := bridgedPair(t)
	frame := ipv4Frame(0, stack.ProtocolUDP, udpDatagram(make([]byte, 1000)))
	send := func() {
		p := stack.NewPacketFrom(frame)
		p.ChecksumPartial = true
		if err := tx.WriteFrame(p); err != nil {
			t.Fatal(err)
		}
		(<-rx).Release()
	}
	send()
	if a := testing.AllocsPerRun(200, send); a != 0 {
		t.Fatalf("%v allocations per frame", a)
	}
}

// TestZeroConfigOffloads: the zero Config asks for offloads (an embedder
// who writes tap.Config{Name: ...} gets the fast path), and NoOffload
// opens the TAP plain.
func TestZeroConfigOffloads(t *testing.T) {
	ns := netnstest.New(t)
	d := openIn(t, ns, Config{Name: "tapz"})
	if !d.Offload() || !d.ChecksumOffload() {
		t.Errorf("zero Config: Offload() %v, ChecksumOffload() %v; want both true (offloads are the default)", d.Offload(), d.ChecksumOffload())
	}
	plain := openIn(t, ns, Config{Name: "tapn", NoOffload: true})
	if plain.Offload() {
		t.Error("NoOffload: Offload() true, want a plain TAP")
	}
}
