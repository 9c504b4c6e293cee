package ndp

import (
	"encoding/binary"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// ICMPv6 types of the Neighbour Discovery messages (RFC 4861 section 4).
const (
	TypeRouterSolicitation    uint8 = 133
	TypeRouterAdvertisement   uint8 = 134
	TypeNeighborSolicitation  uint8 = 135
	TypeNeighborAdvertisement uint8 = 136
	TypeRedirect              uint8 = 137
)

// Fixed lengths of each message before its options.
const (
	rsLen       = 8
	raLen       = 16
	nsLen       = 24
	naLen       = 24
	redirectLen = 40
)

// HopLimit is the hop limit every Neighbour Discovery message is sent with
// and must arrive with (RFC 4861 section 6.1 and 7.1), proving it did not
// cross a router.
const HopLimit = 255

// RxError is the reason a received message is dropped; Reason names the
// counter it is counted in ("ndp.rx." + Reason).
type RxError struct {
	// Reason is the counter suffix, like "bad_hop_limit".
	Reason string
	msg    string
}

// Error returns the message.
func (e *RxError) Error() string { return "ndp: " + e.msg }

// Errors of Validate and Check, one per drop reason.
var (
	ErrTooShort         = &RxError{"too_short", "message shorter than its fixed part"}
	ErrBadCode          = &RxError{"bad_code", "ICMPv6 code is not 0"}
	ErrBadOptionLength  = &RxError{"bad_option_length", "an option has length 0 or runs past the message"}
	ErrMulticastTarget  = &RxError{"multicast_target", "target address is multicast"}
	ErrUnknownType      = &RxError{"unknown_type", "not a Neighbour Discovery message type"}
	ErrBadHopLimit      = &RxError{"bad_hop_limit", "IP hop limit is not 255"}
	ErrBadSource        = &RxError{"bad_source", "source address not allowed for this message"}
	ErrBadDestination   = &RxError{"bad_destination", "destination address not allowed for this message"}
	ErrUnspecifiedLLAO  = &RxError{"unspecified_with_llao", "unspecified source with a source link-layer address option"}
	ErrSolicitedToMcast = &RxError{"solicited_multicast", "solicited advertisement sent to a multicast address"}
)

// rxErrors lists every RxError, for registering their counters.
var rxErrors = []*RxError{
	ErrTooShort, ErrBadCode, ErrBadOptionLength, ErrMulticastTarget, ErrUnknownType,
	ErrBadHopLimit, ErrBadSource, ErrBadDestination, ErrUnspecifiedLLAO, ErrSolicitedToMcast,
}

// Message is a view of a Neighbour Discovery message: the bytes from the
// ICMPv6 header to the end of the IPv6 payload. Call Validate (or Check)
// first; after it returns nil no accessor panics.
//
//	 0      1      2             4
//	+------+------+-------------+---------------------------+---------+
//	| type | code | checksum    | message body (fixed part) | options |
//	+------+------+-------------+---------------------------+---------+
type Message []byte

// fixedLen is the length of the fixed part of a message of type t, or 0.
func fixedLen(t uint8) int {
	switch t {
	case TypeRouterSolicitation:
		return rsLen
	case TypeRouterAdvertisement:
		return raLen
	case TypeNeighborSolicitation:
		return nsLen
	case TypeNeighborAdvertisement:
		return naLen
	case TypeRedirect:
		return redirectLen
	}
	return 0
}

// Validate checks the message on its own (RFC 4861 sections 6.1.1, 6.1.2,
// 7.1.1, 7.1.2, 8.1): a Neighbour Discovery type, code 0, at least the
// fixed length of its type, every option of non-zero length within the
// message, and for NS, NA and Redirect a target (and destination) that is
// not multicast. The checks that need the IP header are in Check.
func (m Message) Validate() error {
	if len(m) < 4 {
		return ErrTooShort
	}
	n := fixedLen(m[0])
	switch {
	case n == 0:
		return ErrUnknownType
	case len(m) < n:
		return ErrTooShort
	case m[1] != 0:
		return ErrBadCode
	}
	for b := m[n:]; len(b) > 0; {
		if len(b) < 2 || b[1] == 0 || int(b[1])*8 > len(b) {
			return ErrBadOptionLength
		}
		b = b[int(b[1])*8:]
	}
	switch m[0] {
	case TypeNeighborSolicitation, TypeNeighborAdvertisement:
		if m.Target().IsMulticast() {
			return ErrMulticastTarget
		}
	case TypeRedirect:
		if m.Destination().IsMulticast() {
			return ErrMulticastTarget
		}
	}
	return nil
}

// Check is Validate plus the rules that involve the IP header the message
// came in: hop limit 255 for every type; an unspecified source only for a
// neighbour solicitation (duplicate address detection, which must go to a
// solicited-node address) or router solicitation, neither with a source
// link-layer address option; a solicited advertisement never to a
// multicast address; router advertisements and redirects only from
// link-local addresses.
func Check(m Message, src, dst netip.Addr, hopLimit uint8) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if hopLimit != HopLimit {
		return ErrBadHopLimit
	}
	src, dst = src.WithZone(""), dst.WithZone("")
	if src.IsMulticast() {
		return ErrBadSource
	}
	switch m.Type() {
	case TypeNeighborSolicitation:
		if src.IsUnspecified() {
			if !isSolicitedNode(dst) {
				return ErrBadDestination
			}
			if _, ok := m.LinkAddrOption(OptionSourceLinkAddr); ok {
				return ErrUnspecifiedLLAO
			}
		}
	case TypeNeighborAdvertisement:
		if src.IsUnspecified() {
			return ErrBadSource
		}
		if m.Solicited() && dst.IsMulticast() {
			return ErrSolicitedToMcast
		}
	case TypeRouterSolicitation:
		if src.IsUnspecified() {
			if _, ok := m.LinkAddrOption(OptionSourceLinkAddr); ok {
				return ErrUnspecifiedLLAO
			}
		}
	case TypeRouterAdvertisement, TypeRedirect:
		if !src.IsLinkLocalUnicast() {
			return ErrBadSource
		}
	}
	return nil
}

// isSolicitedNode reports whether a is a solicited-node multicast address
// (ff02::1:ffXX:XXXX).
func isSolicitedNode(a netip.Addr) bool {
	b := a.As16()
	return a.Is6() && b[0] == 0xff && b[1] == 0x02 && b[11] == 0x01 && b[12] == 0xff &&
		[9]byte(b[2:11]) == [9]byte{}
}

// Type is the ICMPv6 type.
func (m Message) Type() uint8 { return m[0] }

// Checksum is the ICMPv6 checksum field.
func (m Message) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// VerifyChecksum reports whether the checksum is right for the message
// sent from src to dst.
func (m Message) VerifyChecksum(src, dst netip.Addr) bool {
	return checksum.Checksum(m, checksum.PseudoHeader(src, dst, stack.ProtocolICMPv6, uint16(len(m)))) == 0
}

// SetChecksum computes the ICMPv6 checksum of b, a whole message to be
// sent from src to dst, and stores it. It does nothing to a b shorter than
// an ICMPv6 header.
func SetChecksum(b []byte, src, dst netip.Addr) {
	if len(b) < 4 {
		return
	}
	b[2], b[3] = 0, 0
	c := checksum.Checksum(b, checksum.PseudoHeader(src, dst, stack.ProtocolICMPv6, uint16(len(b))))
	binary.BigEndian.PutUint16(b[2:], c)
}

// Target is the target address of an NS, NA or Redirect.
func (m Message) Target() netip.Addr { return netip.AddrFrom16([16]byte(m[8:24])) }

// Destination is the destination address of a Redirect.
func (m Message) Destination() netip.Addr { return netip.AddrFrom16([16]byte(m[24:40])) }

// Router is the R flag of an NA: the sender is a router.
func (m Message) Router() bool { return m[4]&0x80 != 0 }

// Solicited is the S flag of an NA: it answers a solicitation.
func (m Message) Solicited() bool { return m[4]&0x40 != 0 }

// Override is the O flag of an NA: it should replace a cached address.
func (m Message) Override() bool { return m[4]&0x20 != 0 }

// CurHopLimit is an RA's suggested hop limit (0: unspecified).
func (m Message) CurHopLimit() uint8 { return m[4] }

// Managed is an RA's M flag (addresses from DHCPv6).
func (m Message) Managed() bool { return m[5]&0x80 != 0 }

// Other is an RA's O flag (other configuration from DHCPv6).
func (m Message) Other() bool { return m[5]&0x40 != 0 }

// RouterLifetime is an RA's router lifetime in seconds (0: not a default
// router).
func (m Message) RouterLifetime() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// ReachableTime is an RA's reachable time in milliseconds (0: unspecified).
func (m Message) ReachableTime() uint32 { return binary.BigEndian.Uint32(m[8:]) }

// RetransTimer is an RA's retransmission timer in milliseconds (0:
// unspecified).
func (m Message) RetransTimer() uint32 { return binary.BigEndian.Uint32(m[12:]) }

// Options returns an iterator over the message's options.
func (m Message) Options() OptionIter { return OptionIter{m[fixedLen(m[0]):]} }

// LinkAddrOption returns the address of the first source (or target)
// link-layer address option of type typ with the Ethernet length.
func (m Message) LinkAddrOption(typ uint8) (stack.MAC, bool) {
	for it := m.Options(); ; {
		o, ok := it.Next()
		if !ok {
			return stack.MAC{}, false
		}
		if o.Type() == typ {
			return o.LinkAddr()
		}
	}
}

// NonceOption returns the nonce of the first nonce option (RFC 7527), as
// its first six bytes.
func (m Message) NonceOption() ([6]byte, bool) {
	for it := m.Options(); ; {
		o, ok := it.Next()
		if !ok {
			return [6]byte{}, false
		}
		if o.Type() == OptionNonce && len(o) >= 8 {
			return [6]byte(o[2:8]), true
		}
	}
}

// NeighborSolicitation is the content of an NS (RFC 4861 4.3).
type NeighborSolicitation struct {
	// Target is the address being resolved or checked.
	Target netip.Addr
	// SourceLinkAddr is the sender's MAC (option 1); zero for none.
	SourceLinkAddr stack.MAC
	// Nonce is the RFC 7527 nonce of a DAD probe; zero for none.
	Nonce [6]byte
}

// NeighborSolicitation decodes a validated NS.
func (m Message) NeighborSolicitation() NeighborSolicitation {
	f := NeighborSolicitation{Target: m.Target()}
	f.SourceLinkAddr, _ = m.LinkAddrOption(OptionSourceLinkAddr)
	f.Nonce, _ = m.NonceOption()
	return f
}

// Len is the encoded length.
func (f *NeighborSolicitation) Len() int {
	n := nsLen
	if !f.SourceLinkAddr.IsZero() {
		n += 8
	}
	if f.Nonce != ([6]byte{}) {
		n += 8
	}
	return n
}

// Encode writes the message into b[:f.Len()] with a zero checksum (see
// SetChecksum).
func (f *NeighborSolicitation) Encode(b []byte) {
	_ = b[f.Len()-1]
	putHeader(b, TypeNeighborSolicitation)
	clear(b[4:8])
	putAddr(b[8:24], f.Target)
	o := b[nsLen:]
	if !f.SourceLinkAddr.IsZero() {
		o = putLinkAddr(o, OptionSourceLinkAddr, f.SourceLinkAddr)
	}
	if f.Nonce != ([6]byte{}) {
		o[0], o[1] = OptionNonce, 1
		copy(o[2:8], f.Nonce[:])
	}
}

// NeighborAdvertisement is the content of an NA (RFC 4861 4.4).
type NeighborAdvertisement struct {
	// Router, Solicited and Override are the R, S and O flags.
	Router, Solicited, Override bool
	// Target is the address advertised.
	Target netip.Addr
	// TargetLinkAddr is its MAC (option 2); zero for none.
	TargetLinkAddr stack.MAC
}

// NeighborAdvertisement decodes a validated NA.
func (m Message) NeighborAdvertisement() NeighborAdvertisement {
	f := NeighborAdvertisement{Router: m.Router(), Solicited: m.Solicited(), Override: m.Override(), Target: m.Target()}
	f.TargetLinkAddr, _ = m.LinkAddrOption(OptionTargetLinkAddr)
	return f
}

// Len is the encoded length.
func (f *NeighborAdvertisement) Len() int {
	if f.TargetLinkAddr.IsZero() {
		return naLen
	}
	return naLen + 8
}

// Encode writes the message into b[:f.Len()] with a zero checksum.
func (f *NeighborAdvertisement) Encode(b []byte) {
	_ = b[f.Len()-1]
	putHeader(b, TypeNeighborAdvertisement)
	clear(b[4:8])
	if f.Router {
		b[4] |= 0x80
	}
	if f.Solicited {
		b[4] |= 0x40
	}
	if f.Override {
		b[4] |= 0x20
	}
	putAddr(b[8:24], f.Target)
	if !f.TargetLinkAddr.IsZero() {
		putLinkAddr(b[naLen:], OptionTargetLinkAddr, f.TargetLinkAddr)
	}
}

// RouterSolicitation is the content of an RS (RFC 4861 4.1).
type RouterSolicitation struct {
	// SourceLinkAddr is the sender's MAC; zero for none (required when the
	// source is unspecified).
	SourceLinkAddr stack.MAC
}

// RouterSolicitation decodes a validated RS.
func (m Message) RouterSolicitation() RouterSolicitation {
	mac, _ := m.LinkAddrOption(OptionSourceLinkAddr)
	return RouterSolicitation{mac}
}

// Len is the encoded length.
func (f *RouterSolicitation) Len() int {
	if f.SourceLinkAddr.IsZero() {
		return rsLen
	}
	return rsLen + 8
}

// Encode writes the message into b[:f.Len()] with a zero checksum.
func (f *RouterSolicitation) Encode(b []byte) {
	_ = b[f.Len()-1]
	putHeader(b, TypeRouterSolicitation)
	clear(b[4:8])
	if !f.SourceLinkAddr.IsZero() {
		putLinkAddr(b[rsLen:], OptionSourceLinkAddr, f.SourceLinkAddr)
	}
}

// Redirect is the content of a Redirect (RFC 4861 4.5). Redirected-header
// options are not kept.
type Redirect struct {
	// Target is the better first hop, Destination the address redirected.
	Target, Destination netip.Addr
	// TargetLinkAddr is the target's MAC; zero for none.
	TargetLinkAddr stack.MAC
}

// Redirect decodes a validated Redirect.
func (m Message) Redirect() Redirect {
	f := Redirect{Target: m.Target(), Destination: m.Destination()}
	f.TargetLinkAddr, _ = m.LinkAddrOption(OptionTargetLinkAddr)
	return f
}

// Len is the encoded length.
func (f *Redirect) Len() int {
	if f.TargetLinkAddr.IsZero() {
		return redirectLen
	}
	return redirectLen + 8
}

// Encode writes the message into b[:f.Len()] with a zero checksum.
func (f *Redirect) Encode(b []byte) {
	_ = b[f.Len()-1]
	putHeader(b, TypeRedirect)
	clear(b[4:8])
	putAddr(b[8:24], f.Target)
	putAddr(b[24:40], f.Destination)
	if !f.TargetLinkAddr.IsZero() {
		putLinkAddr(b[redirectLen:], OptionTargetLinkAddr, f.TargetLinkAddr)
	}
}

func putHeader(b []byte, typ uint8) {
	b[0], b[1], b[2], b[3] = typ, 0, 0, 0
}

// putAddr writes a as 16 bytes, or zeros if it is not IPv6.
func putAddr(b []byte, a netip.Addr) {
	if !a.Is6() {
		clear(b[:16])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

// putLinkAddr writes a link-layer address option and returns the rest of b.
func putLinkAddr(b []byte, typ uint8, mac stack.MAC) []byte {
	b[0], b[1] = typ, 1
	copy(b[2:8], mac[:])
	return b[8:]
}
