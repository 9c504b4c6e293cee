package stacktest

import (
	"net/netip"
	"sync"

	"github.com/tapstack/tapstack/stack"
)

// Delivered is what a network protocol handed up with a packet: the
// Packet fields it set and a copy of the bytes (from the transport header
// on).
type Delivered struct {
	Src, Dst   netip.Addr
	TTL        uint8 // TTL or hop limit
	TOS        uint8 // IPv4 TOS byte or IPv6 traffic class
	Protocol   uint8
	ChecksumOK bool
	Data       []byte
}

// Record copies the facts of p into a Delivered; p stays the caller's.
func Record(p *stack.Packet) Delivered {
	return Delivered{p.Src, p.Dst, p.TTL, p.TOS, p.Protocol, p.ChecksumOK, append([]byte(nil), p.Bytes()...)}
}

// Transport is a stack.TransportProtocol that records the packets and the
// errors the network layer hands it.
type Transport struct {
	number uint8

	mu      sync.Mutex
	refuse  bool
	discard bool

	packets record[Delivered]
	errs    record[stack.TransportError]
}

// NewTransport returns a Transport for IP protocol number.
func NewTransport(number uint8) *Transport { return &Transport{number: number} }

// SetRefuse makes HandlePacket return false (no endpoint: the network layer
// answers port unreachable) without taking the packet, or accept again.
func (t *Transport) SetRefuse(refuse bool) { t.mu.Lock(); t.refuse = refuse; t.mu.Unlock() }

// SetDiscard makes HandlePacket release packets without recording them.
func (t *Transport) SetDiscard(discard bool) { t.mu.Lock(); t.discard = discard; t.mu.Unlock() }

// Number returns the protocol number given to NewTransport.
func (t *Transport) Number() uint8 { return t.number }

// HandlePacket records a copy of p (see SetRefuse, SetDiscard) and releases
// it.
func (t *Transport) HandlePacket(p *stack.Packet) bool {
	t.mu.Lock()
	refuse, discard := t.refuse, t.discard
	t.mu.Unlock()
	if refuse {
		return false
	}
	if !discard {
		t.packets.add(Record(p))
	}
	p.Release()
	return true
}

// HandleError records e, with a copy of its Transport bytes.
func (t *Transport) HandleError(e stack.TransportError) {
	e.Transport = append([]byte(nil), e.Transport...)
	t.errs.add(e)
}

// TakePackets returns the recorded packets, oldest first, and forgets them.
func (t *Transport) TakePackets() []Delivered { return t.packets.take() }

// TakeErrors returns the recorded errors, oldest first, and forgets them.
func (t *Transport) TakeErrors() []stack.TransportError { return t.errs.take() }
