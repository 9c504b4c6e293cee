package host

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// The whole-host IPv6 TCP benchmarks (issue 14, acceptance 6): a segment
// through link, ipv6, ndp (a REACHABLE neighbour) and tcp to the
// connection and back, as a TAP device would carry it. Both must show 0
// allocs/op.

// benchDev is a link.Device that remembers the sequence number just past
// the last TCP segment the host wrote, and drops every frame.
type benchDev struct {
	d   link.FrameDispatcher
	end atomic.Uint32 // seq + len of the last TCP segment written
	n   atomic.Int64  // TCP segments with data written
}

func (d *benchDev) MTU() int                       { return 1500 }
func (d *benchDev) Attach(fd link.FrameDispatcher) { d.d = fd }
func (d *benchDev) Close() error                   { return nil }

func (d *benchDev) WriteFrame(p *stack.Packet) error {
	b := p.Bytes()
	if len(b) >= link.EthernetHeaderLen+60 && binary.BigEndian.Uint16(b[12:14]) == stack.EtherTypeIPv6 && b[link.EthernetHeaderLen+6] == stack.ProtocolTCP {
		ip := b[link.EthernetHeaderLen:]
		seg := ip[40 : 40+int(binary.BigEndian.Uint16(ip[4:6]))]
		data := len(seg) - int(seg[12]>>4)*4
		flags := seg[13]
		if seq := binary.BigEndian.Uint32(seg[4:8]); data > 0 || flags&0x02 != 0 {
			if flags&0x02 != 0 {
				data = 1
			}
			d.end.Store(seq + uint32(data))
			d.n.Add(1)
		}
	}
	p.Release()
	return nil
}

// benchFrame6 is a reusable frame from fd00::1:40000 to fd00::2:80.
type benchFrame6 struct {
	b []byte
}

func newBenchFrame6(payload int) *benchFrame6 {
	f := fzIP6(fzMAC0, fzPeer01, fz6Peer01, fz6Ours0, 64, nil, stack.ProtocolTCP, fzTCP6(40000, 80, 0, 0, 0x10, make([]byte, payload)))
	return &benchFrame6{b: f}
}

// set writes seq, ack and flags and the checksum.
func (f *benchFrame6) set(seq, ack uint32, flags byte) []byte {
	seg := f.b[link.EthernetHeaderLen+40:]
	binary.BigEndian.PutUint32(seg[4:8], seq)
	binary.BigEndian.PutUint32(seg[8:12], ack)
	seg[13] = flags
	seg[16], seg[17] = 0, 0
	ip := f.b[link.EthernetHeaderLen:]
	binary.BigEndian.PutUint16(seg[16:18], ^fzFold(fzSum(seg, fzSum(ip[8:40], uint64(stack.ProtocolTCP)+uint64(len(seg))))))
	return f.b
}

// benchConn6 returns a host with an established IPv6 connection from
// fd00::1:40000 (a REACHABLE neighbour), the host's side of it, and the
// peer's next sequence number and the host's.
func benchConn6(b *testing.B) (*Host, *benchDev, net.Conn, uint32, uint32) {
	dev := &benchDev{}
	h, err := New(Config{
		Interfaces: []Interface{{Name: "eth0", Device: dev, MAC: fzMAC0, Addr: netip.MustParsePrefix("fd00::2/64")}},
		NoSLAAC:    true,
		TCP:        tcp.Options{Rand: rand.NewChaCha8(fzTCPSeed)},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	ln, err := h.Listen("tcp6", ":80")
	if err != nil {
		b.Fatal(err)
	}
	deliver := func(f []byte) { dev.d.DeliverFrame(stack.NewPacketFrom(f)) }
	deliver(fzIP6(fzMAC0, fzPeer01, fz6Peer01, stack.SolicitedNodeAddress(fz6Ours0), 255, nil, stack.ProtocolICMPv6,
		fzNS6(fz6Ours0, fzLLA6(1, fzPeer01))))
	deliver(fzIP6(fzMAC0, fzPeer01, fz6Peer01, fz6Ours0, 255, nil, stack.ProtocolICMPv6, fzNA6(0x60, fz6Peer01, fzLLA6(2, fzPeer01))))
	deliver(fzIP6(fzMAC0, fzPeer01, fz6Peer01, fz6Ours0, 64, nil, stack.ProtocolTCP, fzTCP6(40000, 80, 1000, 0, 0x02, nil)))
	ours := dev.end.Load()
	deliver(newBenchFrame6(0).set(1001, ours, 0x10))
	c, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range h.NDP().Entries() {
		if e.Addr == fz6Peer01 && e.State != ndp.Reachable {
			b.Fatalf("neighbour %v is %v, want REACHABLE", e.Addr, e.State)
		}
	}
	return h, dev, c, 1001, ours
}

// BenchmarkHostReceiveTCP6: a 1440-byte data segment delivered as an
// Ethernet frame and read from the connection.
func BenchmarkHostReceiveTCP6(b *testing.B) {
	_, dev, c, seq, ours := benchConn6(b)
	f := newBenchFrame6(1440)
	buf := make([]byte, 2048)
	b.SetBytes(1440)
	b.ReportAllocs()
	for b.Loop() {
		dev.d.DeliverFrame(stack.NewPacketFrom(f.set(seq, ours, 0x18)))
		if n, err := c.Read(buf); n != 1440 || err != nil {
			b.Fatal(n, err)
		}
		seq += 1440
	}
}

// BenchmarkHostSendTCP6: a 1440-byte Write leaving as one frame, then the
// peer's ACK for it delivered.
func BenchmarkHostSendTCP6(b *testing.B) {
	_, dev, c, seq, _ := benchConn6(b)
	ack := newBenchFrame6(0)
	msg := make([]byte, 1440)
	b.SetBytes(1440)
	b.ReportAllocs()
	for b.Loop() {
		n := dev.n.Load()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		for dev.n.Load() == n { // sent inline or by the protocol's sender
			runtime.Gosched()
		}
		dev.d.DeliverFrame(stack.NewPacketFrom(ack.set(seq, dev.end.Load(), 0x10)))
	}
}
