package link

import "github.com/tapstack/tapstack/stack"

// Device is a raw frame device: a TAP, an in-memory Pipe, or a decorator
// (fault injection, capture) around another Device. Frames are complete
// Ethernet frames without preamble or FCS.
type Device interface {
	// MTU is the largest Ethernet payload the device carries (1500 for a
	// standard link); frames may be up to MTU()+14 bytes, plus 4 per VLAN
	// tag.
	MTU() int
	// Attach starts delivering received frames to d. It is called once.
	Attach(d FrameDispatcher)
	// WriteFrame sends p, whose data is a complete Ethernet frame. It
	// takes ownership of p whatever it returns.
	WriteFrame(p *stack.Packet) error
	// Close stops delivery and releases the device. It returns only when
	// no goroutine of the device is left running; it must not be called
	// from inside DeliverFrame.
	Close() error
}

// FrameDispatcher receives frames from a Device.
type FrameDispatcher interface {
	// DeliverFrame takes ownership of p, whose data is a complete
	// Ethernet frame. A device may call it from several goroutines at
	// once (a multiqueue TAP has one reader per queue, each flow on one
	// of them), so a dispatcher must be safe for concurrent use; every
	// one in tapstack is (the stack's inbound path already runs
	// concurrently with its loopback, timers and user goroutines).
	DeliverFrame(p *stack.Packet)
}

// FrameDispatcherFunc adapts a function to FrameDispatcher.
type FrameDispatcherFunc func(p *stack.Packet)

// DeliverFrame calls f(p).
func (f FrameDispatcherFunc) DeliverFrame(p *stack.Packet) { f(p) }
