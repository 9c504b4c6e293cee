package stacktest

import (
	"sync"

	"github.com/tapstack/tapstack/stack"
)

// Frame is one packet a Link was asked to write: its destination link
// address and EtherType, a copy of its bytes (from the network header on)
// and the offload metadata it carried.
type Frame struct {
	Dst       stack.MAC
	EtherType uint16
	Data      []byte
	// ChecksumPartial and GSOSize are the packet's offload marks
	// (stack.Packet fields of the same names).
	ChecksumPartial bool
	GSOSize         uint16
}

// Link is a stack.LinkEndpoint that records a copy of every packet it is
// asked to write and releases the packet. Connected to a peer (Connect), it
// also delivers each frame for the peer's address or for a multicast or
// broadcast address synchronously to the peer's dispatcher, like a wire
// with no delay (so the delivery may re-enter the sender).
//
// It implements stack.Offloader with what SetOffloads configured (by
// default nothing), which is the same to the stack as not implementing it.
type Link struct {
	mu      sync.Mutex
	mac     stack.MAC
	mtu     int
	discard bool
	gsoMax  int
	csum    bool
	d       stack.NetworkDispatcher
	peer    *Link
	hook    func(Frame)

	frames record[Frame]
}

// NewLink returns a Link with link address mac and the given MTU.
func NewLink(mac stack.MAC, mtu int) *Link { return &Link{mac: mac, mtu: mtu} }

// MTU returns the configured MTU.
func (l *Link) MTU() int { l.mu.Lock(); defer l.mu.Unlock(); return l.mtu }

// LinkAddress returns the configured link address.
func (l *Link) LinkAddress() stack.MAC { l.mu.Lock(); defer l.mu.Unlock(); return l.mac }

// Attach remembers d, to which a connected peer delivers.
func (l *Link) Attach(d stack.NetworkDispatcher) { l.mu.Lock(); l.d = d; l.mu.Unlock() }

// Close does nothing.
func (l *Link) Close() error { return nil }

// GSOMaxSize returns the gsoMax SetOffloads configured (0: no segmentation).
func (l *Link) GSOMaxSize() int { l.mu.Lock(); defer l.mu.Unlock(); return l.gsoMax }

// ChecksumOffload returns the csum SetOffloads configured.
func (l *Link) ChecksumOffload() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.csum }

// SetMAC changes the link address that LinkAddress reports and that a
// connected peer delivers to.
func (l *Link) SetMAC(mac stack.MAC) { l.mu.Lock(); l.mac = mac; l.mu.Unlock() }

// SetMTU changes the MTU.
func (l *Link) SetMTU(mtu int) { l.mu.Lock(); l.mtu = mtu; l.mu.Unlock() }

// SetOffloads sets what the link reports as stack.Offloader: the largest
// TCP packet it segments (0: none) and whether it completes checksums.
func (l *Link) SetOffloads(gsoMax int, csum bool) {
	l.mu.Lock()
	l.gsoMax, l.csum = gsoMax, csum
	l.mu.Unlock()
}

// SetDiscard makes the link release what it is given without recording it
// (for benchmarks and fuzzing), or record again.
func (l *Link) SetDiscard(discard bool) { l.mu.Lock(); l.discard = discard; l.mu.Unlock() }

// SetHook makes the link call hook with each frame (recorded or not) after
// recording it, outside the link's lock and before any delivery to the
// peer; hook may deliver frames back, re-entrantly. nil removes it.
func (l *Link) SetHook(hook func(Frame)) { l.mu.Lock(); l.hook = hook; l.mu.Unlock() }

// Connect wires a and b to each other (see Link).
func Connect(a, b *Link) {
	a.mu.Lock()
	a.peer = b
	a.mu.Unlock()
	b.mu.Lock()
	b.peer = a
	b.mu.Unlock()
}

// WritePacket records (unless discarding) a copy of p as a Frame, calls
// the hook, delivers a copy to a connected peer when dst is its address or
// a group address, and releases p.
func (l *Link) WritePacket(dst stack.MAC, etherType uint16, p *stack.Packet) error {
	l.mu.Lock()
	discard, src, peer, hook := l.discard, l.mac, l.peer, l.hook
	l.mu.Unlock()
	if !discard {
		l.frames.add(frameOf(dst, etherType, p))
	}
	if hook != nil {
		hook(frameOf(dst, etherType, p))
	}
	if peer != nil {
		peer.mu.Lock()
		d, peerMAC := peer.d, peer.mac
		peer.mu.Unlock()
		if d != nil && (dst == peerMAC || dst.IsMulticast()) {
			q := inbound(etherType, src, dst, p.Bytes())
			p.Release()
			d.DeliverNetworkPacket(q)
			return nil
		}
	}
	p.Release()
	return nil
}

func frameOf(dst stack.MAC, etherType uint16, p *stack.Packet) Frame {
	return Frame{dst, etherType, append([]byte(nil), p.Bytes()...), p.ChecksumPartial, p.GSOSize}
}

// Take returns the recorded frames, oldest first, and forgets them.
func (l *Link) Take() []Frame { return l.frames.take() }

// Deliver hands a copy of b to d as a frame of the given EtherType that
// arrived from linkSrc for linkDst: the inbound half of a fake wire (pass
// a stack.NIC to inject a packet into a test's stack).
func Deliver(d stack.NetworkDispatcher, etherType uint16, linkSrc, linkDst stack.MAC, b []byte) {
	d.DeliverNetworkPacket(inbound(etherType, linkSrc, linkDst, b))
}

// inbound is a new packet holding a copy of b as a frame received from
// linkSrc for linkDst.
func inbound(etherType uint16, linkSrc, linkDst stack.MAC, b []byte) *stack.Packet {
	p := stack.NewPacketFrom(b)
	p.LinkSrc, p.LinkDst, p.EtherType = linkSrc, linkDst, etherType
	return p
}

// Len reports how many frames are recorded and not yet taken.
func (l *Link) Len() int { return l.frames.len() }
