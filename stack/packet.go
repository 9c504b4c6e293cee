package stack

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Headroom is the space reserved in front of outbound data for the headers
// every layer pushes: virtio-net header (12), Ethernet (14), two VLAN tags
// (8), IPv4 with options (60) and TCP with options (60), rounded up.
const Headroom = 192

// MaxPacketSize is the largest packet the pool hands out: a 64 KiB IP packet
// (TSO/GRO super-segment) plus Headroom.
const MaxPacketSize = 65536 + Headroom

// smallSize is the buffer size of the small pool class: an Ethernet frame of
// a 1500-byte MTU plus headroom fits with room to spare.
const smallSize = 2048

// Packet is a pooled, reference-counted buffer holding one frame or packet.
//
// Inbound, a device fills the buffer and each layer consumes its header with
// Pull, recording where the network and transport headers start. Outbound, a
// transport writes its payload into a packet from NewPacket and each layer
// prepends its header with Push into the headroom. No layer copies payload.
//
// Ownership is single: whoever holds a Packet calls Release exactly once.
// Code that fans data out (a retransmit queue, a capture) takes an extra
// reference with Ref and releases it separately.
type Packet struct {
	buf   []byte
	head  int
	tail  int
	refs  atomic.Int32
	large bool

	netOff   int // offset in buf of the network header, -1 if unset
	transOff int // offset in buf of the transport header, -1 if unset

	// NIC is the interface the packet arrived on (inbound only).
	NIC *NIC
	// LinkSrc and LinkDst are the Ethernet addresses of an inbound frame.
	LinkSrc, LinkDst MAC
	// EtherType is the network protocol number of an inbound frame.
	EtherType uint16
	// Src and Dst are the network addresses, set by the network layer
	// before it hands an inbound packet to a transport.
	Src, Dst netip.Addr
	// Protocol is the IP protocol number of an inbound packet.
	Protocol uint8
	// TTL is the time-to-live of an inbound IP packet.
	TTL uint8
	// TOS is the type-of-service byte of an inbound IPv4 packet, or the
	// traffic class of an IPv6 one: DSCP and, in its low two bits, ECN
	// (RFC 3168).
	TOS uint8
	// ChecksumOK says the device verified the transport checksum (a
	// virtio-net header with DATA_VALID), so the transport may skip it.
	ChecksumOK bool
	// ChecksumPartial, outbound, says the transport wrote only the
	// pseudo-header sum and the device completes it (CSUM offload), and
	// CsumStart/CsumOffset (relative to the network header) say where.
	// Inbound (an offloading TAP, NEEDS_CSUM), it says the same of the
	// sender: a router must complete the checksum or leave it to its
	// output device.
	ChecksumPartial bool
	// GSOSize, outbound, asks the device to cut the TCP payload into
	// segments of at most this many bytes (TSO). Zero means no GSO.
	// Inbound, it marks a TCP super-segment (GRO/GSO from an offloading
	// TAP) with the sender's segment size.
	GSOSize uint16
	// Batched, inbound, says the device that read the packet calls
	// EndBatch on its dispatcher after it, before it waits for more (see
	// BatchEnder): work the packet causes may wait for that call.
	Batched bool
}

var (
	smallPool   = sync.Pool{New: func() any { return &Packet{buf: make([]byte, smallSize)} }}
	largePool   = sync.Pool{New: func() any { return &Packet{buf: make([]byte, MaxPacketSize), large: true} }}
	livePackets atomic.Int64
)

// NewPacket returns a packet with headroom bytes free in front and length
// bytes of data (contents unspecified) ready to be filled through Bytes.
// headroom+length must not exceed MaxPacketSize.
func NewPacket(headroom, length int) *Packet {
	n := headroom + length
	var p *Packet
	switch {
	case n <= smallSize:
		p = smallPool.Get().(*Packet)
	case n <= MaxPacketSize:
		p = largePool.Get().(*Packet)
	default:
		panic(fmt.Sprintf("stack.NewPacket: %d bytes exceeds MaxPacketSize %d", n, MaxPacketSize))
	}
	p.head = headroom
	p.tail = n
	p.netOff, p.transOff = -1, -1
	p.refs.Store(1)
	livePackets.Add(1)
	return p
}

// NewPacketFrom returns a packet holding a copy of b with Headroom in front.
// It is meant for tests and slow paths; the data path fills packets in place.
func NewPacketFrom(b []byte) *Packet {
	p := NewPacket(Headroom, len(b))
	copy(p.Bytes(), b)
	return p
}

// LivePackets reports how many packets are currently taken from the pool and
// not yet released. Tests use it to prove that nothing leaks.
func LivePackets() int64 { return livePackets.Load() }

// Ref takes an extra reference; each reference is dropped by one Release.
func (p *Packet) Ref() *Packet {
	if p.refs.Add(1) <= 1 {
		panic("stack: Ref of a released packet")
	}
	return p
}

// Release drops a reference; the last one returns the buffer to the pool.
func (p *Packet) Release() {
	switch r := p.refs.Add(-1); {
	case r > 0:
		return
	case r < 0:
		panic("stack: packet released twice")
	}
	p.NIC = nil
	p.Src, p.Dst = netip.Addr{}, netip.Addr{}
	p.LinkSrc, p.LinkDst = MAC{}, MAC{}
	p.EtherType, p.Protocol, p.TTL, p.TOS = 0, 0, 0, 0
	p.ChecksumOK, p.ChecksumPartial, p.GSOSize, p.Batched = false, false, 0, false
	livePackets.Add(-1)
	if p.large {
		largePool.Put(p)
	} else {
		smallPool.Put(p)
	}
}

// Bytes returns the packet's current data, from the outermost header pushed
// (or the first byte not yet pulled) to the end.
func (p *Packet) Bytes() []byte { return p.buf[p.head:p.tail] }

// Len is len(p.Bytes()).
func (p *Packet) Len() int { return p.tail - p.head }

// Headroom reports how many bytes Push can still prepend.
func (p *Packet) Headroom() int { return p.head }

// Tailroom reports how many bytes Extend can still append.
func (p *Packet) Tailroom() int { return len(p.buf) - p.tail }

// Push prepends n bytes and returns them for the caller to fill. It panics
// when the headroom is too small, which is a programming error.
func (p *Packet) Push(n int) []byte {
	if n > p.head {
		panic(fmt.Sprintf("stack: Push(%d) with only %d bytes of headroom", n, p.head))
	}
	p.head -= n
	return p.buf[p.head : p.head+n]
}

// Pull consumes n bytes from the front and returns them; ok is false (and
// nothing is consumed) when fewer than n bytes remain.
func (p *Packet) Pull(n int) (hdr []byte, ok bool) {
	if n < 0 || n > p.tail-p.head {
		return nil, false
	}
	hdr = p.buf[p.head : p.head+n]
	p.head += n
	return hdr, true
}

// Trim shortens the data to n bytes (for example to an IP total length
// shorter than the frame). It does nothing when n >= Len.
func (p *Packet) Trim(n int) {
	if n >= 0 && n < p.tail-p.head {
		p.tail = p.head + n
	}
}

// Extend appends n bytes to the end of the data and returns them. It panics
// when the buffer has no room, which is a programming error.
func (p *Packet) Extend(n int) []byte {
	if n > len(p.buf)-p.tail {
		panic(fmt.Sprintf("stack: Extend(%d) with only %d bytes of tailroom", n, len(p.buf)-p.tail))
	}
	p.tail += n
	return p.buf[p.tail-n : p.tail]
}

// SetLen sets the data length (from the current head) to n, growing or
// shrinking within the buffer. Devices use it after reading a frame into a
// packet allocated at its maximum size.
func (p *Packet) SetLen(n int) {
	if n < 0 || p.head+n > len(p.buf) {
		panic(fmt.Sprintf("stack: SetLen(%d) out of range", n))
	}
	p.tail = p.head + n
}

// MarkNetworkHeader records that the network header starts at the current
// front of the data. The network layer calls it before pulling its header.
func (p *Packet) MarkNetworkHeader() { p.netOff = p.head }

// MarkTransportHeader records that the transport header starts at the
// current front of the data.
func (p *Packet) MarkTransportHeader() { p.transOff = p.head }

// NetworkHeader returns the bytes from the marked network header to the end
// of the data (header and everything after it), or nil if none was marked.
// ICMP error generation quotes the offending datagram from here.
func (p *Packet) NetworkHeader() []byte {
	if p.netOff < 0 {
		return nil
	}
	return p.buf[p.netOff:p.tail]
}

// TransportHeader returns the bytes from the marked transport header to the
// end of the data, or nil if none was marked.
func (p *Packet) TransportHeader() []byte {
	if p.transOff < 0 {
		return nil
	}
	return p.buf[p.transOff:p.tail]
}

// Clone returns a new packet holding a copy of the current data, with
// Headroom in front and the inbound metadata copied. It is for the rare paths
// that must keep a packet longer than its owner (loopback, capture of a
// packet that is modified later), never for the per-packet path.
func (p *Packet) Clone() *Packet {
	q := NewPacket(Headroom, p.Len())
	copy(q.Bytes(), p.Bytes())
	q.NIC, q.LinkSrc, q.LinkDst, q.EtherType = p.NIC, p.LinkSrc, p.LinkDst, p.EtherType
	q.Src, q.Dst, q.Protocol, q.TTL, q.TOS, q.ChecksumOK = p.Src, p.Dst, p.Protocol, p.TTL, p.TOS, p.ChecksumOK
	return q
}
