package link

import (
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// Counter names of the Ethernet endpoint.
const (
	// CounterRxMalformed counts frames too short for their headers.
	CounterRxMalformed = "link.rx.malformed"
	// CounterRxNotForUs counts unicast frames for another MAC address.
	CounterRxNotForUs = "link.rx.not_for_us"
	// CounterRxVLANDropped counts 802.1Q/802.1ad tagged frames with a
	// VLAN ID, which an Ethernet endpoint does not carry (a Trunk does).
	CounterRxVLANDropped = "link.rx.vlan_dropped"
	// CounterRxPriorityTagged counts frames received with a priority tag
	// (an 802.1Q or 802.1ad tag with VID 0), taken as untagged.
	CounterRxPriorityTagged = "link.rx.priority_tagged"
	// CounterRxNotEthernetII counts IEEE 802.3 LLC frames (a length, not an
	// EtherType, after the addresses), such as STP BPDUs.
	CounterRxNotEthernetII = "link.rx.not_ethernet2"
	// CounterTxTooBig counts packets larger than the MTU.
	CounterTxTooBig = "link.tx.too_big"
	// CounterTxError counts frames the device failed to send.
	CounterTxError = "link.tx.device_error"
)

// Ethernet is an Ethernet II link endpoint over a raw frame Device. It
// implements stack.LinkEndpoint (for the NIC above) and FrameDispatcher (for
// the device below).
//
// Counters: NewEthernet does not know the stack, so the endpoint looks its
// counters up in Attach. When the dispatcher it is attached to has a
// Stack() *stack.Stack method (a *stack.NIC has), the counters are the
// stack's; otherwise the endpoint keeps a private registry. Either way
// Counters returns the registry in use.
type Ethernet struct {
	dev Device
	mac stack.MAC

	// up is set once by Attach; until then inbound frames are released.
	up atomic.Pointer[ethernetUp]

	private stack.Counters
}

// ethernetUp is what Attach installs: the dispatcher and the counters.
type ethernetUp struct {
	d        stack.NetworkDispatcher
	counters *stack.Counters

	rxMalformed, rxNotForUs, rxVLAN, rxLLC *stack.Counter
	rxPriorityTagged, txTooBig, txError    *stack.Counter
}

// NewEthernet returns an Ethernet endpoint with address mac over d. The
// device is attached (starts delivering) when the endpoint is attached.
func NewEthernet(d Device, mac stack.MAC) *Ethernet {
	return &Ethernet{dev: d, mac: mac}
}

// MTU is the device's MTU: the largest network packet a frame carries.
func (e *Ethernet) MTU() int { return e.dev.MTU() }

// LinkAddress returns the endpoint's MAC address.
func (e *Ethernet) LinkAddress() stack.MAC { return e.mac }

// Device returns the device the endpoint sends through.
func (e *Ethernet) Device() Device { return e.dev }

// Counters returns the counter registry the endpoint counts into: the
// stack's once attached to a NIC, otherwise a private one.
func (e *Ethernet) Counters() *stack.Counters {
	if u := e.up.Load(); u != nil {
		return u.counters
	}
	return &e.private
}

// Attach starts delivering inbound network packets to d and attaches the
// device. It is called once, by stack.AddNIC.
func (e *Ethernet) Attach(d stack.NetworkDispatcher) {
	cs := &e.private
	if s, ok := d.(interface{ Stack() *stack.Stack }); ok && s.Stack() != nil {
		cs = s.Stack().Counters()
	}
	u := &ethernetUp{
		d:                d,
		counters:         cs,
		rxMalformed:      cs.Get(CounterRxMalformed),
		rxNotForUs:       cs.Get(CounterRxNotForUs),
		rxVLAN:           cs.Get(CounterRxVLANDropped),
		rxLLC:            cs.Get(CounterRxNotEthernetII),
		rxPriorityTagged: cs.Get(CounterRxPriorityTagged),
		txTooBig:         cs.Get(CounterTxTooBig),
		txError:          cs.Get(CounterTxError),
	}
	if !e.up.CompareAndSwap(nil, u) {
		panic("link: Ethernet attached twice")
	}
	e.dev.Attach(e)
}

// WritePacket prepends an Ethernet header for dst and etherType to p
// (whose data starts at the network header) and sends the frame. It takes
// ownership of p. A packet larger than the MTU (and not a GSO packet) is
// refused with stack.ErrMessageTooLong.
func (e *Ethernet) WritePacket(dst stack.MAC, etherType uint16, p *stack.Packet) error {
	u := e.up.Load()
	if p.Len() > e.dev.MTU() && p.GSOSize == 0 {
		if u != nil {
			u.txTooBig.Inc()
		}
		p.Release()
		return stack.ErrMessageTooLong
	}
	EthernetFields{Dst: dst, Src: e.mac, EtherType: etherType}.Encode(p.Push(EthernetHeaderLen))
	err := e.dev.WriteFrame(p)
	if err != nil && u != nil {
		u.txError.Inc()
	}
	return err
}

// EndBatch implements stack.BatchEnder for the device below: it passes the
// end of a batch of frames on to the NIC.
func (e *Ethernet) EndBatch() bool {
	if u := e.up.Load(); u != nil {
		if b, ok := u.d.(stack.BatchEnder); ok {
			return b.EndBatch()
		}
	}
	return false
}

// DeliverFrame implements FrameDispatcher: it validates and filters an
// inbound frame and hands its network packet to the NIC. It accepts frames
// for the endpoint's MAC and for broadcast and multicast addresses. It
// takes ownership of p.
func (e *Ethernet) DeliverFrame(p *stack.Packet) {
	u := e.up.Load()
	if u == nil {
		p.Release()
		return
	}
	h := EthernetHeader(p.Bytes())
	if h.Validate() != nil {
		u.rxMalformed.Inc()
		p.Release()
		return
	}
	dst := h.Dst()
	if dst != e.mac && !dst.IsMulticast() {
		u.rxNotForUs.Inc()
		p.Release()
		return
	}
	et, hdrLen := h.EtherType(), EthernetHeaderLen
	if IsVLANTPID(et) {
		// A priority tag (VID 0) says only the frame's priority: the
		// frame is untagged (IEEE 802.1Q), and Linux receives it so,
		// ignoring the priority. Other tagged frames are for a Trunk,
		// not a plain Ethernet endpoint.
		if len(p.Bytes()) < EthernetHeaderLen+VLANTagLen {
			u.rxMalformed.Inc()
			p.Release()
			return
		}
		et, hdrLen = priorityTagged(p.Bytes())
		if hdrLen == 0 {
			u.rxVLAN.Inc()
			p.Release()
			return
		}
		u.rxPriorityTagged.Inc()
	}
	if et < MinEtherType {
		u.rxLLC.Inc()
		p.Release()
		return
	}
	p.LinkDst, p.LinkSrc, p.EtherType = dst, h.Src(), et
	p.Pull(hdrLen)
	u.d.DeliverNetworkPacket(p)
}

// Close closes the device; it returns when the device's goroutines ended.
func (e *Ethernet) Close() error { return e.dev.Close() }
