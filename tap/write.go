package tap

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"golang.org/x/sys/unix"
)

// WriteFrame writes p, a complete Ethernet frame, with one write system
// call, and releases it. It takes ownership of p. After Close it returns
// stack.ErrClosed.
//
// Offloads: a packet with GSOSize > 0 (TSO; its TCP checksum field must
// hold the pseudo-header sum, as with ChecksumPartial) may be up to
// MaxGSOSize plus the Ethernet header; the kernel cuts it into segments of
// GSOSize payload bytes. A ChecksumPartial packet's transport checksum is
// completed by the kernel, or here in software on a TAP without offloads.
func (d *Device) WriteFrame(p *stack.Packet) error {
	if d.vnet {
		return d.writeVnet(p)
	}
	defer p.Release()
	if p.GSOSize > 0 {
		d.stats.txErrors.Add(1)
		return fmt.Errorf("tap %s: %w", d.name, ErrGSOUnsupported)
	}
	if p.Len() > d.maxFrame {
		d.stats.txErrors.Add(1)
		return fmt.Errorf("tap %s: %w: %d bytes, at most %d", d.name, link.ErrFrameTooLong, p.Len(), d.maxFrame)
	}
	if p.ChecksumPartial {
		if err := completeChecksumAt(p.Bytes(), d.l3); err != nil {
			d.stats.txErrors.Add(1)
			return fmt.Errorf("tap %s: %w", d.name, err)
		}
	}
	return d.write(p.Bytes(), 0)
}

// writeVnet writes p behind a virtio-net header describing its offloads.
func (d *Device) writeVnet(p *stack.Packet) error {
	max := d.maxFrame
	if p.GSOSize > 0 {
		max = gsoFrameMax
	}
	if p.Len() > max {
		p.Release()
		d.stats.txErrors.Add(1)
		return fmt.Errorf("tap %s: %w: %d bytes, at most %d", d.name, link.ErrFrameTooLong, p.Len(), max)
	}
	f, err := txHeaderAt(p.Bytes(), d.l3, p.GSOSize, p.ChecksumPartial)
	if err != nil {
		p.Release()
		d.stats.txErrors.Add(1)
		return fmt.Errorf("tap %s: %w", d.name, err)
	}
	if p.Headroom() < VirtioNetHeaderLen { // not from NewPacket(stack.Headroom, ...): rare
		q := stack.NewPacketFrom(p.Bytes())
		p.Release()
		p = q
	}
	defer p.Release()
	f.Encode(p.Push(VirtioNetHeaderLen))
	if f.GSOType != VirtioNetGSONone {
		d.stats.txGSO.Add(1)
	} else if f.Flags&VirtioNetNeedsCsum != 0 {
		d.stats.txCsumPartial.Add(1)
	}
	return d.write(p.Bytes(), VirtioNetHeaderLen)
}

// write writes b (a frame behind hdr bytes of virtio-net header) with one
// system call and counts it. A small frame (rawWriteMax) is written with a
// raw call, which does not tell the scheduler: writing to a TAP never
// sleeps, and entersyscall would wake sysmon after every idle spell, one
// more thread wake-up per ping or UDP reply. A large one (a TSO
// super-segment) goes through the poller's Write: the kernel runs the
// receiving side inline for a while, and a raw call would keep the
// goroutine's P from the scheduler all that time (downloads measured 25%
// slower). The raw descriptor is kept open by wmu against Close.
func (d *Device) write(b []byte, hdr int) error {
	i := d.txQueue(b, hdr)
	var n int
	var err error
	if len(b) <= rawWriteMax {
		d.wmu.RLock()
		if d.closing.Load() {
			d.wmu.RUnlock()
			return stack.ErrClosed
		}
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(d.fds[i]), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		d.wmu.RUnlock()
		n = int(r)
		if e != 0 {
			n, err = 0, e
		}
	}
	if len(b) > rawWriteMax || err == unix.EAGAIN || err == unix.EINTR {
		// EAGAIN and EINTR are not seen from a TAP; the poller's write
		// waits and retries.
		n, err = d.files[i].Write(b)
	}
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return stack.ErrClosed
		}
		d.stats.txErrors.Add(1)
		return fmt.Errorf("tap %s: write: %w", d.name, err)
	}
	d.stats.txFrames.Add(1)
	d.stats.txBytes.Add(uint64(n - hdr))
	return nil
}

// rawWriteMax is the largest frame (with its virtio-net header) write
// sends with a raw system call: an MTU-sized frame and then some.
const rawWriteMax = 2048

// Close closes the TAP (which removes a non-persistent TAP from the
// system), wakes the readers and returns when they have ended. It must not be
// called from inside the dispatcher.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.closing.Store(true)
	attached := d.attached
	d.mu.Unlock()
	d.wmu.Lock() // wait for writes using the raw descriptors
	d.wmu.Unlock()
	var err error
	for _, f := range d.files {
		if e := f.Close(); err == nil {
			err = e
		}
	}
	if attached {
		<-d.done
	}
	return err
}
