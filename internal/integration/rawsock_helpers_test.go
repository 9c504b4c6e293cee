package integration

import (
	be "encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// rawSocket is an AF_PACKET socket on one interface of a test namespace:
// it sees every frame the interface sends and receives, and sends frames
// as they are given.
type rawSocket struct {
	fd int
}

// openRaw opens a rawSocket on iface in ns; it is closed when the test ends.
func openRaw(t *testing.T, ns *netnstest.NS, iface string) *rawSocket {
	t.Helper()
	r := &rawSocket{fd: -1}
	if err := ns.Run(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		if r.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); err != nil {
			return err
		}
		return unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}); err != nil {
		if r.fd >= 0 {
			unix.Close(r.fd)
		}
		t.Fatalf("raw socket on %s: %v", iface, err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r
}

// rawFrame is one frame a rawSocket saw; out is set for the frames the
// interface sent (PACKET_OUTGOING), clear for those it received.
type rawFrame struct {
	data []byte
	out  bool
}

// next returns the next frame, waiting until deadline at most.
func (r *rawSocket) next(deadline time.Time) (rawFrame, bool) {
	buf := make([]byte, 9216)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return rawFrame{}, false
		}
		fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		n, from, err := unix.Recvfrom(r.fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		ll, _ := from.(*unix.SockaddrLinklayer)
		return rawFrame{data: append([]byte(nil), buf[:n]...), out: ll != nil && ll.Pkttype == unix.PACKET_OUTGOING}, true
	}
}

// drain returns the frames already queued, without waiting.
func (r *rawSocket) drain() []rawFrame {
	var fs []rawFrame
	buf := make([]byte, 9216)
	for {
		n, from, err := unix.Recvfrom(r.fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			return fs
		}
		ll, _ := from.(*unix.SockaddrLinklayer)
		fs = append(fs, rawFrame{data: append([]byte(nil), buf[:n]...), out: ll != nil && ll.Pkttype == unix.PACKET_OUTGOING})
	}
}

// send transmits one frame on the interface.
func (r *rawSocket) send(frame []byte) error { return unix.Send(r.fd, frame, 0) }

// l4 is the transport header of an IPv4 frame, as far as the tests need it.
type l4 struct {
	src, dst   netip.AddrPort
	proto      uint8 // 6 or 17
	seq, ack   uint32
	flags      uint8
	payload    []byte
	dstMACBcst bool
}

// parseL4 decodes an Ethernet II / IPv4 / TCP or UDP frame (unfragmented).
func parseL4(f []byte) (l4, bool) {
	if len(f) < 14+20 || be.BigEndian.Uint16(f[12:]) != 0x0800 {
		return l4{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&15) * 4
	total := int(be.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl || total > len(ip) || be.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return l4{}, false
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	p := l4{proto: ip[9], dstMACBcst: f[0] == 0xff}
	seg := ip[ihl:total]
	switch {
	case p.proto == 6 && len(seg) >= 20 && int(seg[12]>>4)*4 <= len(seg):
		p.seq, p.ack, p.flags = be.BigEndian.Uint32(seg[4:]), be.BigEndian.Uint32(seg[8:]), seg[13]
		p.payload = seg[int(seg[12]>>4)*4:]
	case p.proto == 17 && len(seg) >= 8:
		p.payload = seg[8:]
	default:
		return l4{}, false
	}
	p.src = netip.AddrPortFrom(src, be.BigEndian.Uint16(seg[0:]))
	p.dst = netip.AddrPortFrom(dst, be.BigEndian.Uint16(seg[2:]))
	return p, true
}

// udpFrame builds an Ethernet II / IPv4 / UDP frame with correct checksums
// from any source: the tests spoof with it.
func udpFrame(t *testing.T, srcMAC, dstMAC string, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	sm, err1 := net.ParseMAC(srcMAC)
	dm, err2 := net.ParseMAC(dstMAC)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: sm, DstMAC: dm, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
