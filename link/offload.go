package link

import "github.com/tapstack/tapstack/stack"

// OffloadDevice is a Device that segments and checksums outbound packets
// for the stack (a TAP with a virtio-net header). Ethernet and its NIC see
// these capabilities through stack.Offloader.
type OffloadDevice interface {
	Device
	// GSOMaxSize is the largest TCP packet (IP header included) the
	// device segments, or 0 when it does not segment.
	GSOMaxSize() int
	// ChecksumOffload reports whether the device completes transport
	// checksums of packets marked ChecksumPartial.
	ChecksumOffload() bool
}

var (
	_ stack.Offloader = (*Ethernet)(nil)
	_ stack.Offloader = (*TrunkPort)(nil)
)

// Offloads returns what dev does for outbound packets: its GSOMaxSize
// and ChecksumOffload when it is an OffloadDevice, else (0, false). A
// decorator such as Capture or Faulty hides the capability, so the stack
// then sends MTU-sized packets with full checksums.
func Offloads(dev Device) (gsoMax int, csum bool) {
	if od, ok := dev.(OffloadDevice); ok {
		return od.GSOMaxSize(), od.ChecksumOffload()
	}
	return 0, false
}

// GSOMaxSize implements stack.Offloader: the device's (see Offloads).
func (e *Ethernet) GSOMaxSize() int { g, _ := Offloads(e.dev); return g }

// ChecksumOffload implements stack.Offloader: the device's (see
// Offloads).
func (e *Ethernet) ChecksumOffload() bool { _, c := Offloads(e.dev); return c }

// GSOMaxSize implements stack.Offloader: a VLAN port (or the native
// port) of a trunk offloads what the trunk's device does; the device
// finds the IP header behind the 802.1Q tag (tap's virtio-net header
// does).
func (p *TrunkPort) GSOMaxSize() int { g, _ := Offloads(p.t.dev); return g }

// ChecksumOffload implements stack.Offloader: the trunk device's.
func (p *TrunkPort) ChecksumOffload() bool { _, c := Offloads(p.t.dev); return c }
