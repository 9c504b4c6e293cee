// Package ipv6 is the IPv6 network layer of tapstack (RFC 8200) and its
// ICMPv6 (RFC 4443): the header and ICMPv6 wire formats, the extension
// header chain, inbound validation and delivery to transports and to the
// ICMPv6 handlers other packages register (Neighbour Discovery, MLD),
// reassembly of inbound fragments, outbound header construction and
// fragmentation of our own datagrams, a path-MTU cache fed by packet too
// big messages (RFC 8201), forwarding (when enabled), loopback of packets
// to our own addresses, echo replies and ICMPv6 errors (generated and
// received).
//
// Register it with a stack once; it then handles EtherType 0x86dd and is
// the IP layer transports send through for IPv6 destinations
// (stack.Route.WritePacket).
//
// # Extension headers
//
// The chain (RFC 8200 section 4) is walked with a bound on the number of
// headers (MaxExtensionHeaders) and on their total length
// (MaxExtensionBytes). A hop-by-hop header anywhere but first is answered
// with a parameter problem (code 1) pointing at the next-header field that
// names it. Options of hop-by-hop and destination-options headers are
// Pad1, PadN and router alert, which we know, and everything else, whose
// two high type bits decide (RFC 8200 4.2): skip; discard; discard and send
// a parameter problem (code 2) pointing at the option; the same but only
// when the destination is not multicast. A routing header with segments
// left 0 is skipped whatever its type; with segments left we have no type
// to execute (type 0 is deprecated, RFC 5095), so it is answered with a
// parameter problem (code 0) pointing at the routing type. An upper-layer
// protocol with no transport registered gets a parameter problem (code 1)
// pointing at the next-header field naming it (RFC 8200 section 4). We
// send a hop-by-hop header only when asked (Protocol.WriteWithHopByHop,
// which MLD uses for its Router Alert option); such packets are never
// fragmented.
//
// # Fragments
//
// Fragments addressed to us are reassembled (RFC 8200 4.5) per source,
// destination and identification. Overlapping fragments discard the whole
// datagram (RFC 5722); atomic fragments (offset 0, M clear) are processed
// on their own (RFC 6946); a first fragment that does not hold the whole
// header chain up to the upper-layer header is dropped (RFC 7112). The
// pending datagrams are bounded in count and bytes and expire after 60
// seconds, answered with time exceeded (code 1) when the first fragment
// had arrived. Our own datagrams larger than the path MTU are fragmented,
// with identifications per destination (RFC 7739); never when the
// transport sets DontFragment or leaves its checksum to the device, and
// never a GSO super-segment (the device segments it).
//
// # Martians and links
//
// Dropped on arrival, before delivery or forwarding (Linux ip6_rcv_core):
// multicast and IPv4-mapped sources, ::1 from a link as source or
// destination, unspecified, IPv4-mapped, interface-local (ff01::/16, from
// a link) and scope-0 multicast destinations. Multicast is delivered for
// the groups the NIC has joined (stack.NIC.IsMember; ff02::1 always). A
// link whose MTU is below 1280 carries no IPv6 at all, counted both ways.
//
// # ICMPv6
//
// Echo requests are answered, to unicast and multicast addresses alike
// (a multicast one from a unicast address of the interface it came in
// on), the data reflected. Inbound errors reach the transport of the quoted
// packet (stack.TransportError; the quoted extension chain is walked); a
// packet too big also lowers the path MTU of its destination (RFC 8201:
// never below 1280, bounded cache, entries expire after 10 minutes; see
// Protocol.PathMTU and Protocol.RouteMTU). Other ICMPv6 types go to the
// stack.ICMPv6Handler registered for them (Neighbour Discovery, MLD),
// checksum verified. Errors we send follow RFC 4443 2.4: never about an
// ICMPv6 error or redirect, about a packet from a non-unicast source, or
// about a packet to a multicast group or link-layer multicast (except
// packet too big and an unknown option of type 10xxxxxx); at most 1280
// bytes; rate limited by a token bucket (Options.ICMPErrorRate).
//
// # Forwarding
//
// With Options.Forwarding the stack routes packets not addressed to it:
// hop-by-hop options are processed, the hop limit decremented in place (no
// copy, no allocation); hop limit expiry, a missing route, a packet larger
// than the out link and a next hop that does not answer are answered with
// time exceeded, destination unreachable (no route), packet too big with
// the out MTU, and address unreachable. Routers never fragment. Never
// forwarded, each counted: multicast, link-local sources (answered with
// beyond scope) and destinations, unspecified and loopback sources,
// packets sent to a link-layer multicast address. TCP super-segments
// (GSO) pass whole to a device that segments them and are cut in software
// for one that does not.
package ipv6

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// HeaderLen is the length of the fixed IPv6 header.
const HeaderLen = 40

// Version is the IP version this package speaks.
const Version = 6

// MinMTU is the smallest link MTU IPv6 runs over (RFC 8200 section 5).
const MinMTU = 1280

// Validation errors of Header.Validate. Each is a distinct drop reason so
// callers can count them separately.
var (
	// ErrTooShort: fewer than 40 bytes.
	ErrTooShort = errors.New("ipv6: packet shorter than the 40-byte header")
	// ErrBadVersion: the version field is not 6.
	ErrBadVersion = errors.New("ipv6: version is not 6")
	// ErrBadPayloadLength: the payload length runs past the bytes
	// received, or is zero (jumbograms, RFC 2675, are not supported).
	ErrBadPayloadLength = errors.New("ipv6: bad payload length")
)

// Header is a view of an IPv6 header at the start of a byte slice (the
// header and, usually, the payload after it). Call Validate before any
// accessor; after a nil Validate no accessor panics.
type Header []byte

// Validate checks that h holds an IPv6 header: at least 40 bytes, version
// 6, and a payload length that fits in h. Extension headers are checked by
// WalkChain.
func (h Header) Validate() error {
	if len(h) < HeaderLen {
		return ErrTooShort
	}
	if h[0]>>4 != Version {
		return ErrBadVersion
	}
	pl := int(binary.BigEndian.Uint16(h[4:]))
	if pl == 0 && h[6] == ProtoHopByHop {
		// A jumbogram (RFC 2675); a zero-length packet with another
		// next header is fine (a bare No Next Header).
		return ErrBadPayloadLength
	}
	if HeaderLen+pl > len(h) {
		return ErrBadPayloadLength
	}
	return nil
}

// TrafficClass is the traffic class byte (DSCP and ECN).
func (h Header) TrafficClass() uint8 { return h[0]<<4 | h[1]>>4 }

// FlowLabel is the 20-bit flow label.
func (h Header) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[0:]) & 0xfffff }

// PayloadLength is the length of everything after the fixed header.
func (h Header) PayloadLength() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// NextHeader is the protocol of the header after the fixed one.
func (h Header) NextHeader() uint8 { return h[6] }

// HopLimit is the hop limit.
func (h Header) HopLimit() uint8 { return h[7] }

// Src is the source address.
func (h Header) Src() netip.Addr { return netip.AddrFrom16([16]byte(h[8:24])) }

// Dst is the destination address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom16([16]byte(h[24:40])) }

// Payload returns the bytes after the fixed header up to the payload length.
func (h Header) Payload() []byte { return h[HeaderLen : HeaderLen+int(h.PayloadLength())] }

// SetHopLimit sets the hop limit (IPv6 has no header checksum).
func (h Header) SetHopLimit(hl uint8) { h[7] = hl }

// Fields are the values of an IPv6 header, for building one with Encode.
type Fields struct {
	// TrafficClass is the traffic class byte (DSCP and ECN).
	TrafficClass uint8
	// FlowLabel is the flow label; only its low 20 bits are encoded.
	FlowLabel uint32
	// PayloadLength is the length of everything after the fixed header.
	PayloadLength uint16
	// NextHeader is the protocol of the next header.
	NextHeader uint8
	// HopLimit is the hop limit.
	HopLimit uint8
	// Src and Dst are the IPv6 addresses.
	Src, Dst netip.Addr
}

// Encode writes the header into b[:40].
func (f *Fields) Encode(b []byte) {
	_ = b[HeaderLen-1]
	binary.BigEndian.PutUint32(b[0:], Version<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], f.PayloadLength)
	b[6] = f.NextHeader
	b[7] = f.HopLimit
	src, dst := f.Src.As16(), f.Dst.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
}
