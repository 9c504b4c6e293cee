package link

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// Counter names of a Trunk (besides those it shares with Ethernet:
// malformed, not_for_us, not_ethernet2, tx.too_big, tx.device_error).
const (
	// CounterRxVLANUnknown counts 802.1Q frames whose VID has no VLAN
	// endpoint on the trunk (and frames with the reserved VID 4095).
	CounterRxVLANUnknown = "link.rx.vlan_unknown"
	// CounterRxQinQDropped counts frames with an 802.1ad S-tag (TPID
	// 0x88a8) with a VLAN ID or with stacked 802.1Q tags, which a trunk
	// does not carry.
	CounterRxQinQDropped = "link.rx.qinq_dropped"
	// CounterRxNoNative counts untagged (or priority-tagged) frames on a
	// trunk without a native endpoint.
	CounterRxNoNative = "link.rx.no_native"
	// CounterRxPortDown counts frames for a trunk endpoint that is not
	// attached to a NIC yet.
	CounterRxPortDown = "link.rx.port_down"
)

// MinVID and MaxVID bound the VLAN identifiers a VLAN endpoint may use:
// 0 marks a priority-tagged frame of the native VLAN and 4095 is reserved.
const (
	MinVID = 1
	MaxVID = 4094
)

// Trunk splits one raw frame Device (an IEEE 802.1Q trunk port) into link
// endpoints, like Linux VLAN sub-interfaces on one parent: a native
// endpoint for untagged frames and one endpoint per VLAN ID. Every endpoint
// uses the trunk's MAC address and becomes its own NIC in a stack, with its
// own addresses and neighbour entries.
//
// Inbound, a frame goes to the endpoint of its VID with the tag stripped.
// Untagged and priority-tagged (VID 0, TPID 0x8100 or 0x88a8) frames go
// to the native endpoint; a priority tag before an 802.1Q tag is stripped
// and the frame goes to the endpoint of the inner VID (both as Linux
// does). Frames for a VID without an endpoint are counted
// (link.rx.vlan_unknown) and dropped, as are untagged frames without a
// native endpoint (link.rx.no_native) and 802.1ad tags with a VID or
// stacked 802.1Q tags (link.rx.qinq_dropped).
// Outbound, a VLAN endpoint tags every frame with its VID and PCP.
//
// The MTU of every endpoint is the device's MTU: as on Linux, the tag does
// not reduce the payload, so the device must carry frames of MTU+18 bytes
// (a TAP and a Pipe do).
//
// The device is attached, and starts delivering, when the first endpoint
// is attached to a NIC (stack.AddNIC attaches it). Endpoints may be created
// later, but a frame for a VLAN that has no endpoint yet is dropped as
// unknown, so create them all before adding the first to a stack. The device is closed when every
// endpoint created has been closed, or by Trunk.Close.
type Trunk struct {
	dev Device
	mac stack.MAC

	// ports[0] is the native endpoint; ports[vid] the VLAN endpoint of vid.
	ports [MaxVID + 1]atomic.Pointer[TrunkPort]

	// cnt is the trunk's counters, chosen by the first endpoint attached.
	cnt     atomic.Pointer[trunkCounters]
	private stack.Counters

	mu         sync.Mutex
	open       int // endpoints created and not yet closed
	devUp      bool
	closed     bool
	closeErr   error
	closedOnce sync.Once
}

type trunkCounters struct {
	reg                                        *stack.Counters
	rxMalformed, rxNotForUs, rxLLC             *stack.Counter
	rxVLANUnknown, rxQinQ, rxNoNative, rxNotUp *stack.Counter
	txTooBig, txError                          *stack.Counter
}

func newTrunkCounters(cs *stack.Counters) *trunkCounters {
	return &trunkCounters{
		reg:           cs,
		rxMalformed:   cs.Get(CounterRxMalformed),
		rxNotForUs:    cs.Get(CounterRxNotForUs),
		rxLLC:         cs.Get(CounterRxNotEthernetII),
		rxVLANUnknown: cs.Get(CounterRxVLANUnknown),
		rxQinQ:        cs.Get(CounterRxQinQDropped),
		rxNoNative:    cs.Get(CounterRxNoNative),
		rxNotUp:       cs.Get(CounterRxPortDown),
		txTooBig:      cs.Get(CounterTxTooBig),
		txError:       cs.Get(CounterTxError),
	}
}

// NewTrunk returns a trunk over d whose endpoints use the address mac.
// Add endpoints with Native and VLAN.
func NewTrunk(d Device, mac stack.MAC) *Trunk {
	return &Trunk{dev: d, mac: mac}
}

// Device returns the device the trunk sends through.
func (t *Trunk) Device() Device { return t.dev }

// Counters returns the counter registry the trunk counts into: the stack's
// of the first endpoint attached to a NIC, otherwise a private one.
func (t *Trunk) Counters() *stack.Counters {
	if c := t.cnt.Load(); c != nil {
		return c.reg
	}
	return &t.private
}

// Native returns the trunk's native endpoint, which carries untagged
// frames (and receives priority-tagged ones, VID 0). Calling it again
// returns the same endpoint (until it is closed). Without a native
// endpoint, untagged frames are counted and dropped.
func (t *Trunk) Native() stack.LinkEndpoint {
	ep, _ := t.port(0, 0) // cannot fail for VID 0
	return ep
}

// VLAN returns the endpoint of VLAN vid (1..4094), whose frames carry an
// 802.1Q tag with vid and the priority code point pcp (0..7). It fails for
// an invalid VID or PCP, for a VID that already has an endpoint, and after
// the trunk was closed.
func (t *Trunk) VLAN(vid uint16, pcp uint8) (stack.LinkEndpoint, error) {
	if vid < MinVID || vid > MaxVID {
		return nil, fmt.Errorf("link: VLAN ID %d out of range %d..%d: %w", vid, MinVID, MaxVID, stack.ErrInvalid)
	}
	if pcp > 7 {
		return nil, fmt.Errorf("link: priority %d out of range 0..7: %w", pcp, stack.ErrInvalid)
	}
	return t.port(vid, pcp)
}

// port creates (or, for the native VID 0, returns) the endpoint of vid.
func (t *Trunk) port(vid uint16, pcp uint8) (*TrunkPort, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed && vid != 0 {
		return nil, fmt.Errorf("link: trunk is closed: %w", stack.ErrClosed)
	}
	if p := t.ports[vid].Load(); p != nil {
		if vid == 0 {
			return p, nil
		}
		return nil, fmt.Errorf("link: VLAN %d already has an endpoint on this trunk: %w", vid, stack.ErrAddressInUse)
	}
	p := &TrunkPort{t: t, vid: vid, pcp: pcp}
	t.ports[vid].Store(p)
	t.open++
	return p, nil
}

// attachPort records that p was attached to d and attaches the device the
// first time.
func (t *Trunk) attachPort(p *TrunkPort, d stack.NetworkDispatcher) {
	t.mu.Lock()
	if t.cnt.Load() == nil {
		cs := &t.private
		if s, ok := d.(interface{ Stack() *stack.Stack }); ok && s.Stack() != nil {
			cs = s.Stack().Counters()
		}
		t.cnt.Store(newTrunkCounters(cs))
	}
	if !p.d.CompareAndSwap(nil, &dispatcherBox{d}) {
		t.mu.Unlock()
		panic("link: trunk endpoint attached twice")
	}
	start := !t.devUp && !t.closed
	t.devUp = t.devUp || start
	t.mu.Unlock()
	if start {
		t.dev.Attach(t)
	}
}

// closePort detaches p; the last endpoint closed closes the device.
func (t *Trunk) closePort(p *TrunkPort) error {
	t.mu.Lock()
	if p.closed {
		t.mu.Unlock()
		return nil
	}
	p.closed = true
	t.ports[p.vid].CompareAndSwap(p, nil)
	t.open--
	last := t.open == 0
	t.mu.Unlock()
	if last {
		return t.Close()
	}
	return nil
}

// Close closes the device and every endpoint: delivery stops and writes
// fail. It returns when the device's goroutines have ended.
func (t *Trunk) Close() error {
	t.closedOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		t.mu.Unlock()
		t.closeErr = t.dev.Close()
	})
	return t.closeErr
}

// DeliverFrame implements FrameDispatcher: it demultiplexes an inbound
// frame to the endpoint of its VLAN (tag stripped) and takes ownership of
// p. It does not allocate.
func (t *Trunk) DeliverFrame(p *stack.Packet) {
	c := t.cnt.Load()
	if c == nil {
		p.Release()
		return
	}
	b := p.Bytes()
	h := EthernetHeader(b)
	if h.Validate() != nil {
		c.rxMalformed.Inc()
		p.Release()
		return
	}
	dst := h.Dst()
	if dst != t.mac && !dst.IsMulticast() {
		c.rxNotForUs.Inc()
		p.Release()
		return
	}
	et := h.EtherType()
	hdrLen := EthernetHeaderLen
	var vid uint16
	if IsVLANTPID(et) {
		if len(b) < EthernetHeaderLen+VLANTagLen {
			c.rxMalformed.Inc()
			p.Release()
			return
		}
		outer := et
		vid = binary.BigEndian.Uint16(b[14:16]) & 0x0fff
		et = binary.BigEndian.Uint16(b[16:18])
		hdrLen += VLANTagLen
		if vid == 0 && et == stack.EtherTypeVLAN {
			// A priority tag (802.1Q or 802.1ad, VID 0) before a
			// C-tag: Linux strips it and demultiplexes the C-tag.
			if len(b) < EthernetHeaderLen+2*VLANTagLen {
				c.rxMalformed.Inc()
				p.Release()
				return
			}
			outer = et
			vid = binary.BigEndian.Uint16(b[18:20]) & 0x0fff
			et = binary.BigEndian.Uint16(b[20:22])
			hdrLen += VLANTagLen
		}
		// An S-tag with a VLAN ID, or tags stacked on a C-tag, are
		// not for us; a priority tag alone (VID 0, either TPID) is
		// an untagged frame with a priority, like Linux takes it.
		if IsVLANTPID(et) || (outer == stack.EtherTypeQinQ && vid != 0) {
			c.rxQinQ.Inc()
			p.Release()
			return
		}
		if vid > MaxVID {
			c.rxVLANUnknown.Inc()
			p.Release()
			return
		}
	}
	if et < MinEtherType {
		c.rxLLC.Inc()
		p.Release()
		return
	}
	port := t.ports[vid].Load()
	if port == nil {
		if vid == 0 {
			c.rxNoNative.Inc()
		} else {
			c.rxVLANUnknown.Inc()
		}
		p.Release()
		return
	}
	d := port.d.Load()
	if d == nil {
		c.rxNotUp.Inc()
		p.Release()
		return
	}
	p.LinkDst, p.LinkSrc, p.EtherType = dst, h.Src(), et
	p.Pull(hdrLen)
	d.d.DeliverNetworkPacket(p)
}

// dispatcherBox lets an interface value live in an atomic.Pointer.
type dispatcherBox struct{ d stack.NetworkDispatcher }

// TrunkPort is one endpoint of a Trunk: the native endpoint or a VLAN
// sub-interface. It implements stack.LinkEndpoint.
type TrunkPort struct {
	t      *Trunk
	vid    uint16
	pcp    uint8
	d      atomic.Pointer[dispatcherBox]
	closed bool // guarded by t.mu
}

var _ stack.LinkEndpoint = (*TrunkPort)(nil)

// VID is the endpoint's VLAN ID, 0 for the native endpoint.
func (p *TrunkPort) VID() uint16 { return p.vid }

// PCP is the priority code point of the endpoint's outbound tags.
func (p *TrunkPort) PCP() uint8 { return p.pcp }

// MTU is the device's MTU (the tag does not reduce it).
func (p *TrunkPort) MTU() int { return p.t.dev.MTU() }

// LinkAddress is the trunk's MAC address.
func (p *TrunkPort) LinkAddress() stack.MAC { return p.t.mac }

// Attach starts delivering the endpoint's inbound packets to d; the first
// endpoint attached attaches the trunk's device.
func (p *TrunkPort) Attach(d stack.NetworkDispatcher) { p.t.attachPort(p, d) }

// WritePacket prepends an Ethernet header (and, on a VLAN endpoint, an
// 802.1Q tag with the endpoint's VID and PCP) to pkt and sends the frame.
// It takes ownership of pkt. A packet larger than the MTU (and not a GSO
// packet) is refused with stack.ErrMessageTooLong. It does not allocate.
func (p *TrunkPort) WritePacket(dst stack.MAC, etherType uint16, pkt *stack.Packet) error {
	t := p.t
	c := t.cnt.Load()
	if pkt.Len() > t.dev.MTU() && pkt.GSOSize == 0 {
		if c != nil {
			c.txTooBig.Inc()
		}
		pkt.Release()
		return stack.ErrMessageTooLong
	}
	if p.vid == 0 {
		EthernetFields{Dst: dst, Src: t.mac, EtherType: etherType}.Encode(pkt.Push(EthernetHeaderLen))
	} else {
		b := pkt.Push(EthernetHeaderLen + VLANTagLen)
		EthernetFields{Dst: dst, Src: t.mac, EtherType: stack.EtherTypeVLAN}.Encode(b)
		binary.BigEndian.PutUint16(b[14:16], uint16(p.pcp)<<13|p.vid)
		binary.BigEndian.PutUint16(b[16:18], etherType)
	}
	err := t.dev.WriteFrame(pkt)
	if err != nil && c != nil {
		c.txError.Inc()
	}
	return err
}

// Close detaches the endpoint: its frames are dropped as unknown from now
// on. Closing the last endpoint of the trunk closes the device and returns
// when its goroutines have ended.
func (p *TrunkPort) Close() error { return p.t.closePort(p) }
