// Package tap is a Linux TAP device as a link.Device: the virtual host's
// wire to the kernel. Open creates (or opens) the TAP, sets its MTU,
// attaches it to a bridge and brings it up; the Device then reads frames
// on one goroutine per queue and hands them, inline, to its dispatcher.
//
// Queues: by default the TAP is multiqueue (IFF_MULTI_QUEUE) with
// DefaultQueues queues (Config.Queues). The kernel puts each flow it sends us on
// one queue by the flow's hash, so different flows are received in
// parallel and each in order; WriteFrame likewise sends each flow's frames
// on one queue, chosen by a hash of its addresses and ports.
//
// The TAP is opened with x/sys/unix (TUNSETIFF with IFF_TAP|IFF_NO_PI) on a
// non-blocking descriptor wrapped in an *os.File, so reads wait in Go's
// network poller and Close wakes a blocked read. (water, which does the same
// open, leaks the descriptor when TUNSETIFF fails and cannot set
// IFF_VNET_HDR, which the offload mode needs.)
//
// Offloads (on unless Config.NoOffload): the TAP is opened with
// IFF_VNET_HDR, a 12-byte virtio-net header and TUNSETOFFLOAD CSUM|TSO4|TSO6. Inbound, the kernel then
// hands us TCP super-segments of up to 64 KiB (GRO/GSO) with checksums it
// vouches for (Packet.ChecksumOK; a checksum left partial, NEEDS_CSUM, is
// also marked Packet.ChecksumPartial, and a super-segment carries the
// sender's segment size in Packet.GSOSize, so that ipv4's forwarding can
// pass both on to an offloading device or finish them in software);
// outbound, a Packet with GSOSize or ChecksumPartial is segmented and
// checksummed by the kernel. The Device
// implements link.OffloadDevice, so link.Ethernet reports the capabilities
// to the stack as a stack.Offloader.
//
// Namespaces: Open works in the network namespace of the calling OS thread.
// To open a TAP in another namespace, call Open on a goroutine locked to a
// thread that entered it (runtime.LockOSThread, then netns.Set from
// github.com/vishvananda/netns, and back before unlocking); or simply run
// the program in the namespace (ip netns exec NAME ...). The TAP stays in
// that namespace; its Device can be used from any goroutine.
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
	// NoOffload opens the TAP plain, without the virtio-net header. By
	// default (false) the TAP is opened with the virtio-net header
	// (IFF_VNET_HDR) and asks the kernel for checksum and TCP
	// segmentation offload (CSUM, TSO4, TSO6): the kernel then hands us TCP
	// super-segments of up to 64 KiB with verified checksums and segments
	// and checksums ours, several times faster than plain frames. When
	// the kernel refuses, Open logs one line and opens the TAP plain (see
	// Device.Offload). Set NoOffload when the frames must be checked by
	// the stack itself, e.g. under injected corruption.
	NoOffload bool
	// Queues is the number of queues of a multiqueue TAP
	// (IFF_MULTI_QUEUE): each has its own descriptor and reader goroutine,
	// and the kernel keeps each flow on one queue, so several flows are
	// received on several cores. Zero means DefaultQueues; 1 opens a
	// single-queue TAP. When the kernel refuses multiqueue (an existing
	// single-queue TAP), Open uses one queue.
	Queues int
}

// DefaultQueues is the number of queues when Config.Queues is zero. It is
// more than the CPUs of most machines on purpose: the kernel puts flows on
// queues by hash, so with few queues a handful of flows often share one
// (4 flows on 2 queues: 5 times in 8), while the Go scheduler spreads the
// queues' reader goroutines over the CPUs whatever their number. Each
// queue costs a reader goroutine and its read buffer (64 KiB with
// offloads).
const DefaultQueues = 8

// MaxQueues bounds Config.Queues.
const MaxQueues = 16

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
	files    []*os.File // one per queue
	bufLen   int        // read buffer: MTU + 14 + readSlack (+ header and GSO room with vnet)
	maxFrame int        // largest frame delivered: MTU + 14 + tags
	vnet     bool

	mu       sync.Mutex
	attached bool
	closed   bool
	running  atomic.Int32  // reader goroutines (one per queue) still running
	done     chan struct{} // closed when the last reader ends
	readErr  atomic.Pointer[error]

	stats deviceStats
}

type deviceStats struct {
	rxFrames, rxBytes, rxErrors, rxTooLong, txFrames, txBytes, txErrors atomic.Uint64
	rxGSO, rxCsumOK, rxCsumPartial, rxBadVnet, txGSO, txCsumPartial     atomic.Uint64
	rxQueue                                                             []atomic.Uint64 // reads per queue
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
	// With offloads: RxGSO counts received TCP super-segments (frames
	// longer than the MTU allows), RxChecksumOK frames whose checksum the
	// kernel vouched for, RxChecksumPartial those of them whose checksum
	// field holds only the pseudo-header sum (NEEDS_CSUM; the packet is
	// marked ChecksumPartial), RxBadVirtioNet frames dropped for a GSO type
	// we did not ask for; TxGSO and TxChecksumPartial count frames written
	// for the kernel to segment or to checksum.
	RxGSO, RxChecksumOK, RxChecksumPartial, RxBadVirtioNet uint64
	TxGSO, TxChecksumPartial                               uint64
	// RxQueueFrames counts the frames read on each queue.
	RxQueueFrames []uint64
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

	// A multiqueue TAP in use takes more queues instead of answering
	// EBUSY: refuse it here, so that two programs never share a TAP.
	if cfg.Name != "" {
		if l, err := nl.LinkByName(cfg.Name); err == nil {
			if tt, ok := l.(*netlink.Tuntap); ok && tt.Queues > 0 {
				return nil, newError(ErrBusy, syscall.EBUSY, "TAP %q is busy: another process has it open", cfg.Name)
			}
		}
	}
	queues := cfg.Queues
	switch {
	case queues == 0:
		queues = DefaultQueues
	case queues < 0 || queues > MaxQueues:
		return nil, newError(ErrBadQueues, nil, "%d queues is out of range (1 to %d)", cfg.Queues, MaxQueues)
	}
	var files []*os.File
	var name string
	vnet := false
	if !cfg.NoOffload {
		files, name, err = openQueues(cfg.Name, unix.IFF_TAP|unix.IFF_NO_PI|unix.IFF_VNET_HDR, queues, setOffloads)
		switch {
		case err == nil:
			vnet = true
		case errors.Is(err, errNoOffload):
			log.Printf("tap %s: no offloads (%v); using the plain TAP", cfg.Name, err)
		default:
			return nil, err
		}
	}
	if !vnet {
		if files, name, err = openQueues(cfg.Name, unix.IFF_TAP|unix.IFF_NO_PI, queues, nil); err != nil {
			return nil, err
		}
	}
	if err := setUp(nl, name, mtu, bridge); err != nil {
		closeAll(files)
		return nil, err
	}
	d := &Device{
		name:     name,
		mtu:      mtu,
		files:    files,
		bufLen:   mtu + link.EthernetHeaderLen + readSlack,
		maxFrame: mtu + link.EthernetHeaderLen + link.MaxVLANTags*link.VLANTagLen,
		vnet:     vnet,
		done:     make(chan struct{}),
	}
	d.stats.rxQueue = make([]atomic.Uint64, len(files))
	if vnet {
		d.bufLen = VirtioNetHeaderLen + gsoFrameMax + 1
	}
	return d, nil
}

// errNoOffload wraps the kernel's refusal of IFF_VNET_HDR or of an offload.
var errNoOffload = errors.New("offload refused")

// setOffloads sets the 12-byte virtio-net header and asks for CSUM and
// TSO4 and TSO6 on a TAP opened with IFF_VNET_HDR.
func setOffloads(fd int) error {
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, VirtioNetHeaderLen); err != nil {
		return fmt.Errorf("%w: TUNSETVNETHDRSZ: %v", errNoOffload, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6); err != nil {
		return fmt.Errorf("%w: TUNSETOFFLOAD CSUM|TSO4|TSO6: %v", errNoOffload, err)
	}
	return nil
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

// openQueues opens n queues of the TAP name (a multiqueue TAP when n > 1;
// one queue when the kernel refuses multiqueue) and returns their files
// and the interface's name.
func openQueues(name string, flags uint16, n int, setup func(fd int) error) ([]*os.File, string, error) {
	if n > 1 {
		f, got, err := openTAP(name, flags|unix.IFF_MULTI_QUEUE, setup)
		if err == nil {
			files := []*os.File{f}
			for len(files) < n {
				f, _, err := openTAP(got, flags|unix.IFF_MULTI_QUEUE, setup)
				if err != nil {
					closeAll(files)
					return nil, "", err
				}
				files = append(files, f)
			}
			return files, got, nil
		}
		// The kernel refused multiqueue (an existing single-queue TAP
		// answers EINVAL): try one queue, which reports any error that
		// is not about queues.
	}
	f, got, err := openTAP(name, flags, setup)
	if err != nil {
		return nil, "", err
	}
	return []*os.File{f}, got, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// openTAP opens /dev/net/tun and attaches the descriptor to the TAP name
// with the given IFF_* flags, then runs setup (if not nil) on the
// descriptor. It returns a pollable file and the interface's name. A
// refusal of IFF_VNET_HDR is reported wrapping errNoOffload.
func openTAP(name string, flags uint16, setup func(fd int) error) (*os.File, string, error) {
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
		if flags&unix.IFF_VNET_HDR != 0 && errors.Is(err, syscall.EINVAL) {
			return nil, "", fmt.Errorf("%w: TUNSETIFF IFF_VNET_HDR: %v", errNoOffload, err)
		}
		return nil, "", setIffError(name, err)
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			unix.Close(fd)
			return nil, "", err
		}
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
	q := make([]uint64, len(s.rxQueue))
	for i := range s.rxQueue {
		q[i] = s.rxQueue[i].Load()
	}
	return Stats{
		RxQueueFrames: q,
		RxFrames:      s.rxFrames.Load(), RxBytes: s.rxBytes.Load(),
		RxErrors: s.rxErrors.Load(), RxTooLong: s.rxTooLong.Load(),
		TxFrames: s.txFrames.Load(), TxBytes: s.txBytes.Load(),
		TxErrors: s.txErrors.Load(),
		RxGSO:    s.rxGSO.Load(), RxChecksumOK: s.rxCsumOK.Load(), RxChecksumPartial: s.rxCsumPartial.Load(),
		RxBadVirtioNet: s.rxBadVnet.Load(),
		TxGSO:          s.txGSO.Load(), TxChecksumPartial: s.txCsumPartial.Load(),
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
		go d.read(f, &d.stats.rxQueue[i], disp)
	}
}

// Queues is the number of queues (reader goroutines) of the TAP.
func (d *Device) Queues() int { return len(d.files) }

// read is the reader goroutine of one queue: it reads frames from file
// into pooled packets, counts them in reads and hands each to disp, until
// Close or a persistent error.
func (d *Device) read(file *os.File, reads *atomic.Uint64, disp link.FrameDispatcher) {
	defer func() {
		if d.running.Add(-1) == 0 {
			close(d.done)
		}
	}()
	s := &d.stats
	errs := 0
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
			n, err := file.Read(p.Bytes())
			if err != nil {
				if errors.Is(err, os.ErrClosed) {
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
			p = d.deliverVnet(p, n, disp)
		}
	}
	for {
		p := stack.NewPacket(stack.Headroom, d.bufLen)
		n, err := file.Read(p.Bytes())
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
		reads.Add(1)
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

// smallFrame is the largest frame the vnet reader copies into a small
// packet (leaving the 64 KiB read buffer for the next read).
const smallFrame = 2048 - stack.Headroom

// deliverVnet handles n bytes read into p (a virtio-net header and a
// frame): it sets the checksum metadata from the header, and delivers the
// frame either in a copy (small frames: p is kept for the next read) or in
// p itself (then it returns nil and the reader takes a new packet).
func (d *Device) deliverVnet(p *stack.Packet, n int, disp link.FrameDispatcher) *stack.Packet {
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
	case gso == VirtioNetGSOTCPv4 || gso == VirtioNetGSOTCPv6:
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
		q.ChecksumOK, q.ChecksumPartial, q.GSOSize = ok, partial, gsoSize
		disp.DeliverFrame(q)
		return p
	}
	p.SetLen(n)
	p.Pull(VirtioNetHeaderLen)
	p.ChecksumOK, p.ChecksumPartial, p.GSOSize = ok, partial, gsoSize
	disp.DeliverFrame(p)
	return nil
}

// stopReading records why the reader gave up. (A separate function, so
// that the read loop's err does not escape to the heap on every read.)
func (d *Device) stopReading(cause error) {
	err := fmt.Errorf("tap %s: reader stopped: %w", d.name, cause)
	if d.readErr.CompareAndSwap(nil, &err) { // once, not once per queue
		log.Print(err)
	}
}

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
		if err := completeChecksum(p.Bytes()); err != nil {
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
	f, err := txHeader(p.Bytes(), p.GSOSize, p.ChecksumPartial)
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
// system call and counts it.
func (d *Device) write(b []byte, hdr int) error {
	n, err := d.txFile(b, hdr).Write(b)
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
	attached := d.attached
	d.mu.Unlock()
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
