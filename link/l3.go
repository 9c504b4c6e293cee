package link

import (
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// CounterRxNotIP counts packets of an L3 device whose version nibble is
// neither 4 nor 6.
const CounterRxNotIP = "link.rx.not_ip"

// L3 is a link endpoint over a Device whose "frames" are bare IP packets,
// with no Ethernet header: a TUN (tap.Open with Mode TUN). It is a
// stack.L3Link, so the NIC on it never resolves neighbours and ARP and NDP
// stay off it; inbound, the NIC takes each packet's family from its version
// nibble. It passes the device's offloads on (stack.Offloader) as Ethernet
// does. Counters are looked up as Ethernet's are.
type L3 struct {
	dev     Device
	up      atomic.Pointer[l3Up]
	private stack.Counters
}

type l3Up struct {
	d                        stack.NetworkDispatcher
	counters                 *stack.Counters
	rxNotIP, txTooBig, txErr *stack.Counter
}

var (
	_ stack.LinkEndpoint = (*L3)(nil)
	_ stack.L3Link       = (*L3)(nil)
	_ stack.Offloader    = (*L3)(nil)
	_ FrameDispatcher    = (*L3)(nil)
)

// NewL3 returns an L3 endpoint over d, a device of bare IP packets. The
// device is attached when the endpoint is.
func NewL3(d Device) *L3 { return &L3{dev: d} }

// MTU is the device's MTU: the largest IP packet.
func (e *L3) MTU() int { return e.dev.MTU() }

// LinkAddress is the zero MAC: an L3 link has no addresses.
func (e *L3) LinkAddress() stack.MAC { return stack.MAC{} }

// IsL3 reports true (stack.L3Link).
func (e *L3) IsL3() bool { return true }

// Device returns the device the endpoint sends through.
func (e *L3) Device() Device { return e.dev }

// Counters returns the registry the endpoint counts into.
func (e *L3) Counters() *stack.Counters {
	if u := e.up.Load(); u != nil {
		return u.counters
	}
	return &e.private
}

// Attach starts delivering inbound packets to d and attaches the device.
func (e *L3) Attach(d stack.NetworkDispatcher) {
	cs := &e.private
	if s, ok := d.(interface{ Stack() *stack.Stack }); ok && s.Stack() != nil {
		cs = s.Stack().Counters()
	}
	u := &l3Up{d: d, counters: cs, rxNotIP: cs.Get(CounterRxNotIP), txTooBig: cs.Get(CounterTxTooBig), txErr: cs.Get(CounterTxError)}
	if !e.up.CompareAndSwap(nil, u) {
		panic("link: L3 attached twice")
	}
	e.dev.Attach(e)
}

// WritePacket sends p, an IP packet, as it is; dst and etherType are
// ignored. It takes ownership of p. A packet larger than the MTU (and not
// a GSO packet) is refused with stack.ErrMessageTooLong.
func (e *L3) WritePacket(_ stack.MAC, _ uint16, p *stack.Packet) error {
	u := e.up.Load()
	if p.Len() > e.dev.MTU() && p.GSOSize == 0 {
		if u != nil {
			u.txTooBig.Inc()
		}
		p.Release()
		return stack.ErrMessageTooLong
	}
	err := e.dev.WriteFrame(p)
	if err != nil && u != nil {
		u.txErr.Inc()
	}
	return err
}

// EndBatch implements stack.BatchEnder for the device below: it passes the
// end of a batch of packets on to the NIC.
func (e *L3) EndBatch() bool {
	if u := e.up.Load(); u != nil {
		if b, ok := u.d.(stack.BatchEnder); ok {
			return b.EndBatch()
		}
	}
	return false
}

// DeliverFrame implements FrameDispatcher: it hands an inbound IP packet to
// the NIC, or counts (CounterRxNotIP) and drops one that is not IPv4 or
// IPv6. It takes ownership of p.
func (e *L3) DeliverFrame(p *stack.Packet) {
	u := e.up.Load()
	if u == nil {
		p.Release()
		return
	}
	et := stack.IPEtherType(p.Bytes())
	if et == 0 {
		u.rxNotIP.Inc()
		p.Release()
		return
	}
	p.LinkSrc, p.LinkDst, p.EtherType = stack.MAC{}, stack.MAC{}, et
	u.d.DeliverNetworkPacket(p)
}

// GSOMaxSize implements stack.Offloader: the device's (see Offloads).
func (e *L3) GSOMaxSize() int { g, _ := Offloads(e.dev); return g }

// ChecksumOffload implements stack.Offloader: the device's (see
// Offloads).
func (e *L3) ChecksumOffload() bool { _, c := Offloads(e.dev); return c }

// Close closes the device; it returns when the device's goroutines ended.
func (e *L3) Close() error { return e.dev.Close() }
