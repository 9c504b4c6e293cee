package link

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// PipeQueueLen is how many frames each direction of a Pipe holds before it
// drops, like a full transmit ring on a real link.
const PipeQueueLen = 1024

// Pipe returns the two ends of an in-memory Ethernet wire carrying frames of
// up to mtu bytes of payload. A frame written on one end is delivered to the
// other end's dispatcher asynchronously, by a goroutine of the receiving end
// that the end's Attach starts; frames written before the receiver attaches
// wait in its queue. Delivery is never inline, so a protocol may write while
// holding its locks. When a queue is full the frame is dropped and counted
// (see PipeEnd.Dropped); a frame to a closed end is silently lost. The
// receiver gets a copy of each frame in a fresh packet, never the writer's.
//
// The ends are *PipeEnd values.
func Pipe(mtu int) (a, b Device) {
	x := &PipeEnd{mtu: mtu, rx: make(chan *stack.Packet, PipeQueueLen), stop: make(chan struct{})}
	y := &PipeEnd{mtu: mtu, rx: make(chan *stack.Packet, PipeQueueLen), stop: make(chan struct{})}
	x.peer, y.peer = y, x
	return x, y
}

// PipeEnd is one end of a Pipe.
type PipeEnd struct {
	mtu  int
	peer *PipeEnd

	// mu guards closed against the senders: a sender holds it shared while
	// it queues, Close holds it exclusively to mark the end closed, so no
	// frame enters rx after Close drained it.
	mu       sync.RWMutex
	closed   bool
	rx       chan *stack.Packet
	stop     chan struct{}
	attached atomic.Bool
	wg       sync.WaitGroup

	dropped atomic.Uint64
}

// ErrFrameTooLong is returned by devices for a frame longer than the MTU
// allows.
var ErrFrameTooLong = errors.New("link: frame longer than MTU")

// MTU returns the pipe's MTU.
func (e *PipeEnd) MTU() int { return e.mtu }

// Dropped reports how many frames for this end were dropped because its
// queue was full.
func (e *PipeEnd) Dropped() uint64 { return e.dropped.Load() }

// Attach starts the goroutine that delivers frames arriving at this end to
// d, one at a time.
func (e *PipeEnd) Attach(d FrameDispatcher) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if !e.attached.CompareAndSwap(false, true) {
		panic("link: PipeEnd attached twice")
	}
	e.wg.Add(1)
	go e.deliver(d)
}

func (e *PipeEnd) deliver(d FrameDispatcher) {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case p := <-e.rx:
			d.DeliverFrame(p)
		}
	}
}

// WriteFrame queues p, a complete Ethernet frame, for the other end. It
// takes ownership of p. It fails with ErrFrameTooLong for a frame longer
// than MTU+14 (+4 per VLAN tag) and with stack.ErrClosed after Close.
func (e *PipeEnd) WriteFrame(p *stack.Packet) error {
	if max := e.mtu + EthernetHeaderLen + vlanAllowance(p.Bytes()); p.Len() > max {
		n := p.Len()
		p.Release()
		return fmt.Errorf("%w: %d bytes, at most %d", ErrFrameTooLong, n, max)
	}
	e.mu.RLock()
	closed := e.closed
	e.mu.RUnlock()
	if closed {
		p.Release()
		return stack.ErrClosed
	}
	e.peer.receive(copyFrame(p))
	return nil
}

// copyFrame returns a fresh packet with p's data and releases p. A wire
// delivers a copy: the writer may hold other references to p (a
// retransmit queue) that the receiver's Pull must not disturb.
func copyFrame(p *stack.Packet) *stack.Packet {
	q := stack.NewPacket(stack.Headroom, p.Len())
	copy(q.Bytes(), p.Bytes())
	p.Release()
	return q
}

// receive queues p for delivery at e, or drops it.
func (e *PipeEnd) receive(p *stack.Packet) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		p.Release()
		return
	}
	select {
	case e.rx <- p:
	default:
		e.dropped.Add(1)
		p.Release()
	}
}

// Close stops this end's delivery goroutine, waits for it to end and
// releases the frames still queued for it. Writes to a closed end fail;
// frames the other end sends to it are lost.
func (e *PipeEnd) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.stop)
	e.mu.Unlock()
	e.wg.Wait()
	for {
		select {
		case p := <-e.rx:
			p.Release()
		default:
			return nil
		}
	}
}

// vlanAllowance returns the extra length the VLAN tags of frame b may add:
// 4 bytes per tag, up to MaxVLANTags.
func vlanAllowance(b []byte) int {
	n := 0
	for off := 12; n < MaxVLANTags && len(b) >= off+2; off += VLANTagLen {
		if !IsVLANTPID(uint16(b[off])<<8 | uint16(b[off+1])) {
			break
		}
		n++
	}
	return n * VLANTagLen
}
