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
// network poller and Close wakes a blocked read. The reads and writes
// themselves are raw system calls (rx.go, write.go): on a non-blocking TAP
// they never sleep, and skipping the scheduler's syscall bookkeeping saves
// a thread wake-up (sysmon's) per ping. (water, which does the same
// open, leaks the descriptor when TUNSETIFF fails and cannot set
// IFF_VNET_HDR, which the offload mode needs.)
//
// Offloads (on unless Config.NoOffload): the TAP is opened with
// IFF_VNET_HDR, a 12-byte virtio-net header and TUNSETOFFLOAD CSUM|TSO4. Inbound, the kernel then
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
// TUN: Config{Mode: TUN} opens an L3 device instead (bare IP packets; see
// tun.go and link.NewL3), with the same offloads and queues.
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
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tapstack/tapstack/link"
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
	// Mode is TAP (the zero value: Ethernet frames) or TUN (bare IP
	// packets, an L3 device: wrap it with link.NewL3, not
	// link.NewEthernet).
	Mode Mode
	// Bridge, if set, is an existing Linux bridge the TAP is attached to.
	// A TUN cannot be bridged.
	Bridge string
	// NoOffload opens the TAP plain, without the virtio-net header. By
	// default (false) the TAP is opened with the virtio-net header
	// (IFF_VNET_HDR) and asks the kernel for checksum and TCP
	// segmentation offload (CSUM, TSO4): the kernel then hands us TCP
	// super-segments of up to 64 KiB with verified checksums and segments
	// and checksums ours, several times faster than plain frames. When
	// the kernel refuses, Open logs it (Logger) and opens the TAP plain (see
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
	// Logger receives the device's log records: the offloads the kernel
	// refused (warn) and a reader that stopped on an error (error). nil
	// logs nothing; Device.Offload and Device.ReadErr tell the same.
	Logger *slog.Logger
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
	fds      []int      // their descriptors, for raw writes under wmu
	bufLen   int        // read buffer: MTU + 14 + readSlack (+ header and GSO room with vnet)
	maxFrame int        // largest frame delivered: MTU + 14 + tags
	vnet     bool
	l3       bool // a TUN: frames are bare IP packets

	mu       sync.Mutex
	attached bool
	closed   bool
	closing  atomic.Bool   // set by Close before it closes the files
	wmu      sync.RWMutex  // writers hold it shared while they use fds
	running  atomic.Int32  // reader goroutines (one per queue) still running
	done     chan struct{} // closed when the last reader ends
	readErr  atomic.Pointer[error]
	log      *slog.Logger

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
	kind, hdrLen, tags := uint16(unix.IFF_TAP), link.EthernetHeaderLen, link.MaxVLANTags*link.VLANTagLen
	switch cfg.Mode {
	case TAP:
	case TUN:
		kind, hdrLen, tags = unix.IFF_TUN, 0, 0
		if cfg.Bridge != "" {
			return nil, newError(ErrBadMode, nil, "TUN %q cannot join bridge %q: a TUN carries IP packets, not Ethernet frames (use a TAP, or route to the TUN)", cfg.Name, cfg.Bridge)
		}
	default:
		return nil, newError(ErrBadMode, nil, "mode %d is neither tap.TAP nor tap.TUN", cfg.Mode)
	}
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
		files, name, err = openQueues(cfg.Name, kind|unix.IFF_NO_PI|unix.IFF_VNET_HDR, queues, setOffloads)
		switch {
		case err == nil:
			vnet = true
		case errors.Is(err, errNoOffload):
			logger(cfg.Logger).Warn("no offloads; using the plain TAP", "tap", cfg.Name, "err", err)
		default:
			return nil, err
		}
	}
	if !vnet {
		if files, name, err = openQueues(cfg.Name, kind|unix.IFF_NO_PI, queues, nil); err != nil {
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
		bufLen:   mtu + hdrLen + readSlack,
		maxFrame: mtu + hdrLen + tags,
		vnet:     vnet,
		l3:       cfg.Mode == TUN,
		done:     make(chan struct{}),
		log:      logger(cfg.Logger),
	}
	d.stats.rxQueue = make([]atomic.Uint64, len(files))
	for _, f := range files {
		// Not f.Fd(), which would make the descriptor blocking.
		rc, err := f.SyscallConn()
		if err == nil {
			err = rc.Control(func(fd uintptr) { d.fds = append(d.fds, int(fd)) })
		}
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("tap %s: %w", name, err)
		}
	}
	if vnet {
		d.bufLen = VirtioNetHeaderLen + gsoFrameMax + 1
	}
	return d, nil
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

// logger is l, or a logger that discards everything when l is nil.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
