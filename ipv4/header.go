// Package ipv4 is the IPv4 network layer of tapstack and its ICMP: the header
// and ICMP wire formats, inbound validation and delivery to transports,
// reassembly of inbound fragments, outbound header construction and
// fragmentation, forwarding (when enabled), loopback of packets to our own
// addresses, echo replies and ICMP error messages (generated and received).
//
// Register it with a stack once; it then handles EtherType 0x0800 and is the
// IP layer transports send through (stack.Route.WritePacket).
//
// # Fragments
//
// Inbound fragments addressed to us are reassembled (RFC 791, RFC 815) per
// source, destination, protocol and ID, and the transport sees one packet.
// Exact duplicate fragments are ignored; any other overlap discards the
// whole datagram (the RFC 5722 rule, applied to IPv4 as well), as does a
// datagram that would exceed 65535 bytes. Incomplete datagrams expire
// after Options.ReassemblyTimeout (30s), answered with ICMP time exceeded
// (code 1) when the first fragment had arrived; all of them together hold
// at most Options.ReassemblyMemory (4 MiB), the oldest being evicted first.
// Fragments we forward are not reassembled.
//
// # Martians
//
// Inbound datagrams with impossible addresses are silently discarded
// before delivery or forwarding (RFC 1122 3.2.1.3, RFC 1812 5.3.7), with
// Linux's rules: sources that are multicast, the limited broadcast, one of
// our subnets' broadcast addresses, one of our own addresses (unless we
// looped the packet back), in 127/8, or in 0/8 (except to
// 255.255.255.255, as DHCP clients send) count as ipv4.rx.martian_source;
// destinations in 0/8 or 127/8 as ipv4.rx.martian_destination. Link-local
// (169.254/16) and class E sources are delivered, as Linux does; see
// martian.go.
//
// # Forwarding
//
// With Options.Forwarding the stack routes packets not addressed to it
// (RFC 1812): the TTL is decremented with an incremental checksum update
// (RFC 1624) and the same packet buffer is sent on. TTL expiry, a missing
// route, a next hop that does not answer ARP and a DF packet over the MTU
// are answered with ICMP time exceeded, net unreachable, host unreachable
// and fragmentation needed (with the next-hop MTU); packets over the MTU
// without DF are fragmented. Never forwarded (each with its counter):
// martians, multicast, broadcast (limited, directed, or link-layer),
// link-local (169.254/16) sources and destinations (RFC 3927 section 7),
// and source-routed packets. No redirects are sent.
//
// # Options
//
// IP options are validated (lengths within the header, the fixed minimum
// lengths and pointers of record route, timestamp, source routes and router
// alert); a malformed list is answered with ICMP parameter problem pointing
// at the offending octet and the packet dropped. An echo reply carries the
// request's record route and timestamp options with our address and time
// added (RFC 1122 3.2.2.6). Otherwise options are not processed: record
// route and timestamp are passed through untouched when forwarding and
// ignored when received, like many routers do; when a forwarded packet is
// fragmented, options without the copied flag are replaced by NOPs in the
// second and later fragments.
package ipv4

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
)

// HeaderLen is the length of an IPv4 header without options.
const HeaderLen = 20

// MaxHeaderLen is the length of an IPv4 header with the most options.
const MaxHeaderLen = 60

// Version is the IP version this package speaks.
const Version = 4

// Validation errors of Header.Validate. Each is a distinct drop reason so
// callers can count them separately.
var (
	// ErrTooShort: fewer bytes than a minimal header, or than the header
	// length (IHL) announces.
	ErrTooShort = errors.New("ipv4: packet shorter than its header")
	// ErrBadVersion: the version field is not 4.
	ErrBadVersion = errors.New("ipv4: version is not 4")
	// ErrBadIHL: the header length field is below 5 words.
	ErrBadIHL = errors.New("ipv4: header length below 20 bytes")
	// ErrBadTotalLength: the total length is shorter than the header or
	// longer than the bytes received.
	ErrBadTotalLength = errors.New("ipv4: bad total length")
	// ErrBadChecksum: the header checksum does not verify.
	ErrBadChecksum = errors.New("ipv4: bad header checksum")
)

// Header is a view of an IPv4 header at the start of a byte slice (the
// header, its options and, usually, the payload after it). Call Validate
// before any accessor; after a nil Validate no accessor panics.
type Header []byte

// Validate checks that h holds a well-formed IPv4 header: version 4,
// IHL >= 5, at least IHL*4 bytes, a total length between IHL*4 and len(h),
// and a valid header checksum. It returns one of the Err* values above.
func (h Header) Validate() error {
	if len(h) < HeaderLen {
		return ErrTooShort
	}
	if h[0]>>4 != Version {
		return ErrBadVersion
	}
	ihl := int(h[0]&0x0f) * 4
	if ihl < HeaderLen {
		return ErrBadIHL
	}
	if len(h) < ihl {
		return ErrTooShort
	}
	if tl := int(binary.BigEndian.Uint16(h[2:])); tl < ihl || tl > len(h) {
		return ErrBadTotalLength
	}
	if checksum.Sum(h[:ihl], 0) != 0xffff {
		return ErrBadChecksum
	}
	return nil
}

// HeaderLength is the header length in bytes (IHL*4), options included.
func (h Header) HeaderLength() int { return int(h[0]&0x0f) * 4 }

// TOS is the type-of-service byte (DSCP and ECN).
func (h Header) TOS() uint8 { return h[1] }

// TotalLength is the length of header plus payload.
func (h Header) TotalLength() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// ID is the identification field.
func (h Header) ID() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// Flags returns the three flag bits (reserved, DF, MF) as the low bits.
func (h Header) Flags() uint8 { return h[6] >> 5 }

// DF reports the don't-fragment flag.
func (h Header) DF() bool { return h[6]&0x40 != 0 }

// MF reports the more-fragments flag.
func (h Header) MF() bool { return h[6]&0x20 != 0 }

// FragmentOffset is the fragment offset in bytes (the field times 8).
func (h Header) FragmentOffset() uint16 { return (binary.BigEndian.Uint16(h[6:]) & 0x1fff) * 8 }

// IsFragment reports whether h is a fragment (MF set or a non-zero offset).
func (h Header) IsFragment() bool { return binary.BigEndian.Uint16(h[6:])&0x3fff != 0 }

// TTL is the time to live.
func (h Header) TTL() uint8 { return h[8] }

// Protocol is the IP protocol number of the payload.
func (h Header) Protocol() uint8 { return h[9] }

// Checksum is the header checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[10:]) }

// Src is the source address.
func (h Header) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[12:16])) }

// Dst is the destination address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[16:20])) }

// Options returns the option bytes between the fixed header and IHL*4.
func (h Header) Options() []byte { return h[HeaderLen:h.HeaderLength()] }

// Payload returns the bytes after the header up to the total length.
func (h Header) Payload() []byte { return h[h.HeaderLength():h.TotalLength()] }

// SetTTL sets the TTL and updates the checksum incrementally (RFC 1624).
func (h Header) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(h[8:])
	h[8] = ttl
	binary.BigEndian.PutUint16(h[10:], checksum.Update(h.Checksum(), old, binary.BigEndian.Uint16(h[8:])))
}

// Fields are the values of an IPv4 header, for building one with Encode.
type Fields struct {
	// TOS is the type-of-service byte.
	TOS uint8
	// TotalLength is the length of header plus payload.
	TotalLength uint16
	// ID is the identification field.
	ID uint16
	// DF and MF are the don't-fragment and more-fragments flags.
	DF, MF bool
	// FragOffset is the fragment offset in bytes; it must be a multiple
	// of 8 (the low three bits are dropped).
	FragOffset uint16
	// TTL is the time to live.
	TTL uint8
	// Protocol is the IP protocol number of the payload.
	Protocol uint8
	// Src and Dst are the IPv4 addresses.
	Src, Dst netip.Addr
	// Options are the option bytes; their length must be a multiple of 4
	// and at most 40.
	Options []byte
}

// HeaderLength is the encoded header length: 20 plus the options.
func (f *Fields) HeaderLength() int { return HeaderLen + len(f.Options) }

// Encode writes the header into b, which must hold f.HeaderLength() bytes,
// and computes the header checksum.
func (f *Fields) Encode(b []byte) {
	hl := f.HeaderLength()
	_ = b[hl-1]
	b[0] = Version<<4 | byte(hl/4)
	b[1] = f.TOS
	binary.BigEndian.PutUint16(b[2:], f.TotalLength)
	binary.BigEndian.PutUint16(b[4:], f.ID)
	fo := (f.FragOffset / 8) & 0x1fff
	if f.DF {
		fo |= 0x4000
	}
	if f.MF {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], fo)
	b[8] = f.TTL
	b[9] = f.Protocol
	b[10], b[11] = 0, 0
	src, dst := f.Src.As4(), f.Dst.As4()
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	copy(b[HeaderLen:hl], f.Options)
	binary.BigEndian.PutUint16(b[10:], checksum.Checksum(b[:hl], 0))
}
