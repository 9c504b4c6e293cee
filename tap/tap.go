// Package tap is a Linux TAP device as a link.Device: the virtual host's
// wire to the kernel. Open creates (or opens) the TAP, sets its MTU,
// attaches it to a bridge and brings it up; the Device then reads frames
// on one goroutine and hands them, inline, to its dispatcher.
//
// The TAP is opened with x/sys/unix (TUNSETIFF with IFF_TAP|IFF_NO_PI) on a
// non-blocking descriptor wrapped in an *os.File, so reads wait in Go's
// network poller and Close wakes a blocked read. (water, which does the same
// open, leaks the descriptor when TUNSETIFF fails and cannot set
// IFF_VNET_HDR, which the offload mode will need.)
//
// Namespaces: Open works in the network namespace of the calling OS thread
// (lock the goroutine to a thread that entered a namespace, as
// internal/netnstest.NS.Run does). The TAP stays in that namespace; its
// Device can be used from any goroutine.
package tap

import (
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config says which TAP to open and how to set it up.
type Config struct {
	// Name is the interface name (at most 15 bytes); empty lets the
	// kernel choose one (tap0, tap1, ...).
	Name string
	// MTU is the link MTU; zero means 1500.
	MTU int
	// Bridge, if set, is an existing Linux bridge the TAP is attached to.
	Bridge string
}

// DefaultMTU is the MTU of a TAP when Config.MTU is zero.
const DefaultMTU = 1500

// MinMTU and MaxMTU bound Config.MTU (IPv4's minimum; a 64 KiB frame).
const (
	MinMTU = 68
	MaxMTU = 65535 - link.EthernetHeaderLen
)

// readSlack is room beyond MTU+14 in each read buffer: two VLAN tags and
// one byte more, so that a read filling the buffer means an oversized frame.
const readSlack = link.MaxVLANTags*link.VLANTagLen + 1

// maxReadErrors is how many read errors in a row make the reader give up
// instead of spinning.
const maxReadErrors = 64

// Device is an open TAP. It implements link.Device.
type Device struct {
	name     string
	mtu      int
	file     *os.File
	bufLen   int // read buffer: MTU + 14 + readSlack
	maxFrame int // largest frame delivered: MTU + 14 + tags

	mu       sync.Mutex
	attached bool
	closed   bool
	done     chan struct{} // closed when the reader ends
	readErr  atomic.Pointer[error]

	stats deviceStats
}

type deviceStats struct {
	rxFrames, rxBytes, rxErrors, rxTooLong, txFrames, txBytes, txErrors atomic.Uint64
}

// Stats are a Device's frame counts.
type Stats struct {
	RxFrames, RxBytes uint64
	// RxErrors counts failed reads; RxTooLong counts frames longer than
	// the MTU allows, which are dropped.
	RxErrors, RxTooLong uint64
	TxFrames, TxBytes   uint64
	// TxErrors counts failed writes.
	TxErrors uint64
}

// Open opens the TAP cfg.Name, creating it if absent, sets its MTU,
// attaches it to cfg.Bridge if set and brings it up. Errors an operator can
// fix are *Error values with a one-line message. The TAP is not persistent:
// it disappears when the Device is closed (unless it was created
// persistent by someone else).
func Open(cfg Config) (*Device, error) {
	if err := checkName(cfg.Name); err != nil {
		return nil, err
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if mtu < MinMTU || mtu > MaxMTU {
		return nil, newError(ErrBadMTU, nil, "MTU %d is out of range (%d to %d)", cfg.MTU, MinMTU, MaxMTU)
	}

	// Everything below must happen in one namespace: the calling thread's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()

	var bridge netlink.Link
	if cfg.Bridge != "" {
		if bridge, err = findBridge(nl, cfg.Bridge); err != nil {
			return nil, err
		}
	}

	file, name, err := openTAP(cfg.Name, unix.IFF_TAP|unix.IFF_NO_PI)
	if err != nil {
		return nil, err
	}
	if err := setUp(nl, name, mtu, bridge); err != nil {
		file.Close()
		return nil, err
	}
	return &Device{
		name:     name,
		mtu:      mtu,
		file:     file,
		bufLen:   mtu + link.EthernetHeaderLen + readSlack,
		maxFrame: mtu + link.EthernetHeaderLen + link.MaxVLANTags*link.VLANTagLen,
		done:     make(chan struct{}),
	}, nil
}

// checkName rejects names the kernel would refuse (dev_valid_name).
func checkName(name string) error {
	switch {
	case len(name) >= unix.IFNAMSIZ:
		return newError(ErrBadName, nil, "interface name %q is too long (%d bytes, at most %d)", name, len(name), unix.IFNAMSIZ-1)
	case name == "." || name == "..":
		return newError(ErrBadName, nil, "interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/: \t\n\r\v\f\x00"):
		return newError(ErrBadName, nil, "interface name %q contains '/', ':' or white space", name)
	}
	return nil
}

// findBridge returns the bridge called name, or an operator error.
func findBridge(nl *netlink.Handle, name string) (netlink.Link, error) {
	l, err := nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) {
			return nil, newError(ErrBridgeNotFound, err, "bridge %q does not exist (create it: ip link add %s type bridge && ip link set %s up)", name, name, name)
		}
		return nil, fmt.Errorf("cannot look up bridge %q: %w", name, err)
	}
	if l.Type() != "bridge" {
		return nil, newError(ErrNotBridge, nil, "link %q exists but is not a bridge (type %s)", name, l.Type())
	}
	return l, nil
}

// openTAP opens /dev/net/tun and attaches the descriptor to the TAP name
// with the given IFF_* flags (a vnet-header mode adds IFF_VNET_HDR here). It
// returns a pollable file and the interface's name.
func openTAP(name string, flags uint16) (*os.File, string, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", openTunError(err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, "", newError(ErrBadName, err, "interface name %q: %v", name, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, "", setIffError(name, err)
	}
	// The descriptor is non-blocking, so os.NewFile registers it with the
	// runtime poller: Read parks the goroutine, Close wakes it.
	return os.NewFile(uintptr(fd), "/dev/net/tun"), ifr.Name(), nil
}

// setUp sets the TAP's MTU, attaches it to bridge and brings it up.
func setUp(nl *netlink.Handle, name string, mtu int, bridge netlink.Link) error {
	l, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("cannot find TAP %q after creating it: %w", name, err)
	}
	if err := nl.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("cannot set MTU %d on %q: %w", mtu, name, err)
	}
	if bridge != nil {
		if err := nl.LinkSetMasterByIndex(l, bridge.Attrs().Index); err != nil {
			return fmt.Errorf("cannot attach %q to bridge %q: %w", name, bridge.Attrs().Name, err)
		}
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("cannot bring %q up: %w", name, err)
	}
	return nil
}

// Name is the interface name.
func (d *Device) Name() string { return d.name }

// MTU is the TAP's MTU: the largest Ethernet payload.
func (d *Device) MTU() int { return d.mtu }

// Stats returns the device's frame counts.
func (d *Device) Stats() Stats {
	s := &d.stats
	return Stats{
		RxFrames: s.rxFrames.Load(), RxBytes: s.rxBytes.Load(),
		RxErrors: s.rxErrors.Load(), RxTooLong: s.rxTooLong.Load(),
		TxFrames: s.txFrames.Load(), TxBytes: s.txBytes.Load(),
		TxErrors: s.txErrors.Load(),
	}
}

// ReadErr returns the error that stopped the reader before Close (the TAP
// was deleted, say), or nil.
func (d *Device) ReadErr() error {
	if e := d.readErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Attach starts the reader goroutine, which delivers each frame to disp
// inline. It is called once; after Close it does nothing.
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
	go d.read(disp)
}

// read is the reader goroutine: it reads frames into pooled packets and
// hands each to disp, until Close or a persistent error.
func (d *Device) read(disp link.FrameDispatcher) {
	defer close(d.done)
	s := &d.stats
	errs := 0
	for {
		p := stack.NewPacket(stack.Headroom, d.bufLen)
		n, err := d.file.Read(p.Bytes())
		if err != nil {
			p.Release()
			if errors.Is(err, os.ErrClosed) {
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
		if n > d.maxFrame {
			s.rxTooLong.Add(1)
			p.Release()
			continue
		}
		p.SetLen(n)
		s.rxFrames.Add(1)
		s.rxBytes.Add(uint64(n))
		disp.DeliverFrame(p)
	}
}

// stopReading records why the reader gave up. (A separate function, so
// that the read loop's err does not escape to the heap on every read.)
func (d *Device) stopReading(cause error) {
	err := fmt.Errorf("tap %s: reader stopped: %w", d.name, cause)
	d.readErr.Store(&err)
	log.Print(err)
}

// WriteFrame writes p, a complete Ethernet frame, with one write system
// call, and releases it. It takes ownership of p. After Close it returns
// stack.ErrClosed.
func (d *Device) WriteFrame(p *stack.Packet) error {
	defer p.Release()
	if p.Len() > d.maxFrame {
		d.stats.txErrors.Add(1)
		return fmt.Errorf("tap %s: %w: %d bytes, at most %d", d.name, link.ErrFrameTooLong, p.Len(), d.maxFrame)
	}
	n, err := d.file.Write(p.Bytes())
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return stack.ErrClosed
		}
		d.stats.txErrors.Add(1)
		return fmt.Errorf("tap %s: write: %w", d.name, err)
	}
	d.stats.txFrames.Add(1)
	d.stats.txBytes.Add(uint64(n))
	return nil
}

// Close closes the TAP (which removes a non-persistent TAP from the
// system), wakes the reader and returns when it has ended. It must not be
// called from inside the dispatcher.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	attached := d.attached
	d.mu.Unlock()
	err := d.file.Close()
	if attached {
		<-d.done
	}
	return err
}
