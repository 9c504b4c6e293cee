package bond

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// slave is one device of a bond and its dispatcher.
type slave struct {
	b       *Bond
	name    string
	dev     link.Device
	carrier func() bool
	index   int
	port    *lacp.Port // 802.3ad only

	// Under b.mu.
	mii       bool // carrier up and writes succeeding
	arpUp     bool // ARP monitor verdict (true without ARP monitoring)
	failures  uint64
	wasUsable bool        // usable at the last update, for failures
	pendSince time.Time   // carrier differs from mii since (updelay, downdelay); zero: it does not
	writeFail atomic.Bool // a write failed since the last MII poll

	markerMu     sync.Mutex
	markerWindow time.Time // start of the current second of responses
	markerCount  int

	rxOK   atomic.Bool  // frames received here go up
	lastRx atomic.Int64 // stack.Nanos of the last frame received (ARP monitor)

	Counters SlaveCounters
}

// SlaveCounters count one slave's frames.
type SlaveCounters struct {
	RxFrames, TxFrames   atomic.Uint64
	RxBytes, TxBytes     atomic.Uint64
	RxDropped            atomic.Uint64 // received on an inactive slave
	TxErrors             atomic.Uint64
	RxLACPDUs, TxLACPDUs atomic.Uint64
	RxMarkers, TxMarkers atomic.Uint64
	RxMalformed          atomic.Uint64 // malformed Slow Protocols PDUs
	RxSlowIgnored        atomic.Uint64 // Slow Protocols frames outside 802.3ad
	RxMarkersLimited     atomic.Uint64 // markers not answered (rate limit)
}

// write sends p on the slave and counts it.
func (s *slave) write(p *stack.Packet) error {
	n := p.Len()
	if err := s.dev.WriteFrame(p); err != nil {
		s.Counters.TxErrors.Add(1)
		s.writeFail.Store(true)
		return err
	}
	s.Counters.TxFrames.Add(1)
	s.Counters.TxBytes.Add(uint64(n))
	return nil
}

// DeliverFrame receives a frame from the slave's device: Slow Protocols
// frames go to LACP, others go up if the slave is active.
func (s *slave) DeliverFrame(p *stack.Packet) {
	b := s.b
	f := p.Bytes()
	if b.arpMonitoring() && isARP(f) {
		s.lastRx.Store(stack.Nanos(b.clock.Now()))
	}
	if len(f) >= 14 && binary.BigEndian.Uint16(f[12:14]) == lacp.EtherType {
		s.slowFrame(f[14:])
		p.Release()
		return
	}
	if !s.rxOK.Load() {
		s.Counters.RxDropped.Add(1)
		p.Release()
		return
	}
	s.Counters.RxFrames.Add(1)
	s.Counters.RxBytes.Add(uint64(len(f)))
	d := b.up.Load()
	(*d).DeliverFrame(p)
}

// slowFrame handles an LACPDU or Marker PDU received on s.
func (s *slave) slowFrame(pdu []byte) {
	b := s.b
	if s.port == nil {
		s.Counters.RxSlowIgnored.Add(1)
		return
	}
	if len(pdu) < 1 {
		s.Counters.RxMalformed.Add(1)
		return
	}
	switch pdu[0] {
	case lacp.SubtypeLACP:
		if lacp.LACPDU(pdu).Validate() != nil {
			s.Counters.RxMalformed.Add(1)
			return
		}
		s.Counters.RxLACPDUs.Add(1)
		fs := lacp.LACPDU(pdu).Fields()
		b.mu.Lock()
		if !b.closed {
			now := b.clock.Now()
			b.lacp.Receive(now, s.port, fs)
			b.lacpTx(now)
			b.update(now)
		}
		b.mu.Unlock()
		b.flush()
	case lacp.SubtypeMarker:
		m := lacp.MarkerPDU(pdu)
		if m.Validate() != nil {
			s.Counters.RxMalformed.Add(1)
			return
		}
		s.Counters.RxMarkers.Add(1)
		fs := m.Fields()
		if fs.Type != lacp.MarkerInfo {
			return // a response to a marker we never send
		}
		// The marker responder (802.1AX-2014 6.5.4.2), at most
		// markerBurst responses per second per slave, so a flood of
		// markers from a hostile neighbour is not reflected in full.
		if !s.markerAllowed(b.clock.Now()) {
			s.Counters.RxMarkersLimited.Add(1)
			return
		}
		s.Counters.TxMarkers.Add(1)
		s.write(slowFrame(b.cfg.MAC, fs.Response().Encode))
	default:
		s.Counters.RxMalformed.Add(1)
	}
}

// isARP reports whether f is an ARP frame, untagged or with one 802.1Q
// tag. The ARP monitor counts only these as signs of a live segment
// (Linux's arp_validate=filter): the kernel itself sends IPv6 frames
// (DAD, router solicitations, MLD) out of a TAP whose bridge port drops
// everything.
func isARP(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	et := binary.BigEndian.Uint16(f[12:14])
	if et == stack.EtherTypeVLAN && len(f) >= 18 {
		et = binary.BigEndian.Uint16(f[16:18])
	}
	return et == stack.EtherTypeARP
}

// markerBurst bounds the marker responses of a slave per second.
const markerBurst = 10

// markerAllowed reports whether a marker response may be sent now.
func (s *slave) markerAllowed(now time.Time) bool {
	s.markerMu.Lock()
	defer s.markerMu.Unlock()
	if now.Sub(s.markerWindow) >= time.Second || now.Before(s.markerWindow) {
		s.markerWindow, s.markerCount = now, 0
	}
	if s.markerCount >= markerBurst {
		return false
	}
	s.markerCount++
	return true
}
