package link

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// pcap file format constants (libpcap, microsecond timestamps).
const (
	pcapMagic        = 0xa1b2c3d4
	pcapLinkEthernet = 1 // LINKTYPE_ETHERNET
	// DefaultSnapLen is the capture length when none is given: whole
	// frames up to a 64 KiB GSO packet.
	DefaultSnapLen = 262144
)

// CaptureOption configures NewCapture.
type CaptureOption func(*Capture)

// WithClock makes the capture take timestamps from now (a stack.Clock's
// Now, say) instead of the wall clock.
func WithClock(now func() time.Time) CaptureOption {
	return func(c *Capture) { c.now = now }
}

// WithSnapLen caps the bytes stored per frame.
func WithSnapLen(n int) CaptureOption {
	return func(c *Capture) { c.snapLen = n }
}

// Capture is a Device decorator that records every frame, in both
// directions, to a libpcap stream; see NewCapture.
type Capture struct {
	dev     Device
	now     func() time.Time
	snapLen int

	mu  sync.Mutex
	w   io.Writer
	hdr [16]byte
	err error
}

// NewCapture returns a Device that writes every frame sent through it and
// every frame it delivers to w in libpcap format (LINKTYPE_ETHERNET), as
// tcpdump -w would. It writes the file header at once and fails if that
// fails. A later write error stops the capture (see Err) but not the
// traffic. Close closes d, not w.
func NewCapture(d Device, w io.Writer, opts ...CaptureOption) (Device, error) {
	c := &Capture{dev: d, w: w, now: time.Now, snapLen: DefaultSnapLen}
	for _, o := range opts {
		o(c)
	}
	if c.snapLen <= 0 {
		return nil, fmt.Errorf("link: capture snap length %d must be positive", c.snapLen)
	}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagic)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(c.snapLen))
	binary.LittleEndian.PutUint32(h[20:], pcapLinkEthernet)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("link: write pcap header: %w", err)
	}
	return c, nil
}

// record appends one frame to the capture.
func (c *Capture) record(b []byte) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	n := min(len(b), c.snapLen)
	binary.LittleEndian.PutUint32(c.hdr[0:], uint32(now.Unix()))
	binary.LittleEndian.PutUint32(c.hdr[4:], uint32(now.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(c.hdr[8:], uint32(n))
	binary.LittleEndian.PutUint32(c.hdr[12:], uint32(len(b)))
	if _, err := c.w.Write(c.hdr[:]); err != nil {
		c.err = err
		return
	}
	if _, err := c.w.Write(b[:n]); err != nil {
		c.err = err
	}
}

// Err returns the write error that stopped the capture, or nil.
func (c *Capture) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// MTU is the underlying device's MTU.
func (c *Capture) MTU() int { return c.dev.MTU() }

// Attach attaches the underlying device, recording each delivered frame
// before passing it to disp.
func (c *Capture) Attach(disp FrameDispatcher) {
	c.dev.Attach(FrameDispatcherFunc(func(p *stack.Packet) {
		c.record(p.Bytes())
		disp.DeliverFrame(p)
	}))
}

// WriteFrame records p and sends it. It takes ownership of p.
func (c *Capture) WriteFrame(p *stack.Packet) error {
	c.record(p.Bytes())
	return c.dev.WriteFrame(p)
}

// Close closes the underlying device (not the writer).
func (c *Capture) Close() error { return c.dev.Close() }
