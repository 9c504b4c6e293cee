package tap

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"golang.org/x/sys/unix"
)

// Attach starts the reader goroutines, one per queue, which deliver each
// frame to disp inline (so disp is called concurrently when there are
// several queues). It is called once; after Close it does nothing.
func (d *Device) Attach(disp link.FrameDispatcher) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.attached {
		panic("tap: Device attached twice")
	}
	if d.closed {
		return
	}
	d.attached = true
	d.running.Store(int32(len(d.files)))
	for i, f := range d.files {
		rc, err := f.SyscallConn()
		if err != nil { // only for a nil *os.File
			panic(err)
		}
		go d.read(newRxQueue(rc), &d.stats.rxQueue[i], disp)
	}
}

// Queues is the number of queues (reader goroutines) of the TAP.
func (d *Device) Queues() int { return len(d.files) }

// maxBatch bounds a batch of frames (see stack.BatchEnder): the reader
// calls EndBatch when it finds nothing more to read, and at the latest
// after maxBatch frames, so work deferred to the end of a batch (TCP's
// ACKs) waits for at most that many frames however busy the TAP is.
const maxBatch = 16

// read is the reader goroutine of one queue: it reads frames from q
// into pooled packets, counts them in reads and hands each to disp, until
// Close or a persistent error. When disp is a stack.BatchEnder the frames
// are delivered in batches: each is marked Batched, and EndBatch is called
// when the TAP has nothing more for now, or after maxBatch frames.
func (d *Device) read(q *rxQueue, reads *atomic.Uint64, disp link.FrameDispatcher) {
	defer func() {
		if d.running.Add(-1) == 0 {
			close(d.done)
		}
	}()
	s := &d.stats
	errs := 0
	ender, _ := disp.(stack.BatchEnder)
	if ender != nil {
		q.end = ender.EndBatch
	}
	// endBatch counts a delivered frame and ends the batch after maxBatch.
	endBatch := func() {
		if ender == nil {
			return
		}
		if q.frames++; q.frames >= maxBatch {
			ender.EndBatch()
			q.frames = 0
		}
	}
	if d.vnet {
		// The vnet reader keeps one 64 KiB packet to read into and
		// copies small frames out (see readVnet).
		headroom := stack.MaxPacketSize - d.bufLen
		var p *stack.Packet
		defer func() {
			if p != nil {
				p.Release()
			}
		}()
		for {
			if p == nil {
				p = stack.NewPacket(headroom, d.bufLen)
			}
			n, err := q.read(p.Bytes())
			if err != nil {
				if d.closing.Load() {
					return
				}
				s.rxErrors.Add(1)
				errs++
				if errors.Is(err, unix.EBADFD) || errors.Is(err, unix.EIO) || errs >= maxReadErrors {
					d.stopReading(err)
					return
				}
				continue
			}
			errs = 0
			reads.Add(1)
			p = d.deliverVnet(p, n, disp, ender != nil)
			endBatch()
		}
	}
	for {
		p := stack.NewPacket(stack.Headroom, d.bufLen)
		n, err := q.read(p.Bytes())
		if err != nil {
			p.Release()
			if d.closing.Load() {
				return
			}
			s.rxErrors.Add(1)
			errs++
			// EBADFD: the interface was deleted under us; EIO and the
			// like will not heal either. Never spin on them.
			if errors.Is(err, unix.EBADFD) || errors.Is(err, unix.EIO) || errs >= maxReadErrors {
				d.stopReading(err)
				return
			}
			continue
		}
		errs = 0
		reads.Add(1)
		if n > d.maxFrame {
			s.rxTooLong.Add(1)
			p.Release()
			continue
		}
		p.SetLen(n)
		p.Batched = ender != nil
		s.rxFrames.Add(1)
		s.rxBytes.Add(uint64(n))
		disp.DeliverFrame(p)
		endBatch()
	}
}

// smallFrame is the largest frame the vnet reader copies into a small
// packet (leaving the 64 KiB read buffer for the next read).
const smallFrame = 2048 - stack.Headroom

// deliverVnet handles n bytes read into p (a virtio-net header and a
// frame): it sets the checksum metadata from the header, and delivers the
// frame either in a copy (small frames: p is kept for the next read) or in
// p itself (then it returns nil and the reader takes a new packet); batched
// marks the frame Batched (see read).
func (d *Device) deliverVnet(p *stack.Packet, n int, disp link.FrameDispatcher, batched bool) *stack.Packet {
	s := &d.stats
	b := p.Bytes()[:n]
	h := VirtioNetHeader(b)
	if h.Validate() != nil {
		s.rxBadVnet.Add(1)
		return p
	}
	frame := b[VirtioNetHeaderLen:]
	switch gso := h.GSOType() &^ VirtioNetGSOECN; {
	case gso == VirtioNetGSONone:
		if len(frame) > d.maxFrame {
			s.rxTooLong.Add(1)
			return p
		}
	case gso == VirtioNetGSOTCPv4, gso == VirtioNetGSOTCPv6:
		s.rxGSO.Add(1)
	default: // we offered only TSO4 and TSO6
		s.rxBadVnet.Add(1)
		return p
	}
	// NEEDS_CSUM: the checksum is partial, but the frame comes from the
	// local kernel, intact. DATA_VALID: the kernel checked it. A partial
	// checksum is also marked ChecksumPartial: the field holds only the
	// pseudo-header sum, which a router must complete before the packet
	// goes out of a device that does not (ipv4's forward does).
	ok := h.Flags()&(VirtioNetNeedsCsum|VirtioNetDataValid) != 0
	partial := h.Flags()&VirtioNetNeedsCsum != 0
	var gsoSize uint16
	if h.GSOType() != VirtioNetGSONone {
		gsoSize = h.GSOSize()
	}
	if ok {
		s.rxCsumOK.Add(1)
	}
	if partial {
		s.rxCsumPartial.Add(1)
	}
	s.rxFrames.Add(1)
	s.rxBytes.Add(uint64(len(frame)))
	if len(frame) <= smallFrame {
		q := stack.NewPacket(stack.Headroom, len(frame))
		copy(q.Bytes(), frame)
		q.ChecksumOK, q.ChecksumPartial, q.GSOSize, q.Batched = ok, partial, gsoSize, batched
		disp.DeliverFrame(q)
		return p
	}
	p.SetLen(n)
	p.Pull(VirtioNetHeaderLen)
	p.ChecksumOK, p.ChecksumPartial, p.GSOSize, p.Batched = ok, partial, gsoSize, batched
	disp.DeliverFrame(p)
	return nil
}

// stopReading records why the reader gave up. (A separate function, so
// that the read loop's err does not escape to the heap on every read.)
func (d *Device) stopReading(cause error) {
	err := fmt.Errorf("tap %s: reader stopped: %w", d.name, cause)
	if d.readErr.CompareAndSwap(nil, &err) { // once, not once per queue
		d.log.Error("reader stopped", "tap", d.name, "err", cause)
	}
}
