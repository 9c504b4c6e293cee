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

var _ stack.Offloader = (*Ethernet)(nil)

// GSOMaxSize implements stack.Offloader: the device's GSOMaxSize when it
// is an OffloadDevice, else 0. (A decorator such as Capture or Faulty
// hides the capability, so the stack then sends MTU-sized packets.)
func (e *Ethernet) GSOMaxSize() int {
	if od, ok := e.dev.(OffloadDevice); ok {
		return od.GSOMaxSize()
	}
	return 0
}

// ChecksumOffload implements stack.Offloader: the device's
// ChecksumOffload when it is an OffloadDevice, else false.
func (e *Ethernet) ChecksumOffload() bool {
	if od, ok := e.dev.(OffloadDevice); ok {
		return od.ChecksumOffload()
	}
	return false
}
