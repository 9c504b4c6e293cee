package udp

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// HeaderLen is the length of a UDP header.
const HeaderLen = 8

// MaxPayload is the largest UDP payload an IPv4 datagram carries: 65535
// minus a 20-byte IP header and the 8-byte UDP header.
const MaxPayload = 65535 - 20 - HeaderLen

// Errors returned by Header.Validate.
var (
	// ErrTooShort means fewer than HeaderLen bytes.
	ErrTooShort = errors.New("udp: datagram shorter than the 8-byte header")
	// ErrBadLength means the length field is below 8 or beyond the data.
	ErrBadLength = errors.New("udp: length field out of range")
)

// Header is a view of a UDP datagram: the 8-byte header followed by the
// payload (RFC 768). Call Validate before the accessors; after it succeeds
// no accessor can panic.
type Header []byte

// Validate checks that b holds a header and that the length field is at
// least 8 and no more than len(b).
func (b Header) Validate() error {
	if len(b) < HeaderLen {
		return ErrTooShort
	}
	if l := int(binary.BigEndian.Uint16(b[4:])); l < HeaderLen || l > len(b) {
		return ErrBadLength
	}
	return nil
}

// SrcPort is the source port.
func (b Header) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:]) }

// DstPort is the destination port.
func (b Header) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:]) }

// Length is the length field: header plus payload.
func (b Header) Length() uint16 { return binary.BigEndian.Uint16(b[4:]) }

// Checksum is the checksum field; zero means the sender computed none.
func (b Header) Checksum() uint16 { return binary.BigEndian.Uint16(b[6:]) }

// SetChecksum writes the checksum field.
func (b Header) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[6:], c) }

// Payload returns the bytes after the header up to the length field (bytes
// beyond it, such as Ethernet padding, are not part of the datagram).
func (b Header) Payload() []byte { return b[HeaderLen:b.Length()] }

// Fields returns the header fields.
func (b Header) Fields() Fields {
	return Fields{SrcPort: b.SrcPort(), DstPort: b.DstPort(), Length: b.Length(), Checksum: b.Checksum()}
}

// ComputeChecksum returns the value for the checksum field of the datagram
// b[:Length] sent from src to dst, computed with the field taken as zero.
// A computed zero is returned as 0xffff, because zero on the wire means "no
// checksum" (RFC 768), which IPv6 does not allow (RFC 8200 section 8.1).
func (b Header) ComputeChecksum(src, dst netip.Addr) uint16 {
	l := b.Length()
	d := b[:l]
	sum := checksum.PseudoHeader(src, dst, stack.ProtocolUDP, l)
	sum = checksum.Sum(d[:6], sum)
	sum = checksum.Sum(d[HeaderLen:], sum)
	if c := ^sum; c != 0 {
		return c
	}
	return 0xffff
}

// VerifyChecksum reports whether the datagram b[:Length] from src to dst
// carries a correct checksum. Over IPv4 a zero field means the sender did
// not compute one and is accepted; over IPv6 the checksum is mandatory and
// zero is invalid (RFC 8200 section 8.1).
func (b Header) VerifyChecksum(src, dst netip.Addr) bool {
	if b.Checksum() == 0 {
		return !dst.Is6()
	}
	l := b.Length()
	return checksum.Sum(b[:l], checksum.PseudoHeader(src, dst, stack.ProtocolUDP, l)) == 0xffff
}

// Fields are the UDP header fields as plain values.
type Fields struct {
	SrcPort, DstPort uint16
	// Length is header plus payload in bytes.
	Length uint16
	// Checksum is the checksum field; zero means none.
	Checksum uint16
}

// Encode writes the header into b[:HeaderLen]. It panics if b is shorter,
// which is a programming error.
func (f Fields) Encode(b []byte) {
	_ = b[HeaderLen-1]
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint16(b[4:], f.Length)
	binary.BigEndian.PutUint16(b[6:], f.Checksum)
}
