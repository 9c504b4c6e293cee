package ipv6

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// ICMPHeaderLen is the length of the ICMPv6 header: type, code, checksum
// and the four message-body bytes every message has.
const ICMPHeaderLen = 8

// MaxErrorLen is the most an ICMPv6 error message may take, IPv6 header
// included (RFC 4443 2.4 c: the minimum MTU).
const MaxErrorLen = MinMTU

// ICMPv6 message types (RFC 4443; Neighbour Discovery and MLD types are
// handled by the packages that register for them).
const (
	ICMPDestUnreach  uint8 = 1
	ICMPPacketTooBig uint8 = 2
	ICMPTimeExceeded uint8 = 3
	ICMPParamProblem uint8 = 4
	ICMPEchoRequest  uint8 = 128
	ICMPEchoReply    uint8 = 129
	ICMPRedirect     uint8 = 137
)

// Codes of ICMPDestUnreach (RFC 4443 3.1).
const (
	CodeNoRoute         uint8 = 0
	CodeAdminProhibited uint8 = 1
	CodeBeyondScope     uint8 = 2
	CodeAddrUnreachable uint8 = 3
	CodePortUnreachable uint8 = 4
	CodeSourcePolicy    uint8 = 5
	CodeRejectRoute     uint8 = 6
)

// Codes of ICMPTimeExceeded (RFC 4443 3.3).
const (
	CodeHopLimitExceeded   uint8 = 0
	CodeReassemblyExceeded uint8 = 1
)

// Validation errors of ICMP.Validate.
var (
	// ErrICMPTooShort: fewer than ICMPHeaderLen bytes.
	ErrICMPTooShort = errors.New("icmpv6: message shorter than 8 bytes")
	// ErrICMPBadChecksum: the checksum over pseudo-header and message
	// does not verify.
	ErrICMPBadChecksum = errors.New("icmpv6: bad checksum")
)

// IsICMPError reports whether an ICMPv6 type is an error message (types
// below 128, RFC 4443 2.1).
func IsICMPError(typ uint8) bool { return typ < 128 }

// ICMP is a view of an ICMPv6 message: header and body. Call Validate
// before any accessor; after a nil Validate no accessor panics.
type ICMP []byte

// Validate checks the length and the checksum over the pseudo-header of
// src and dst (RFC 4443 2.3) and the whole message.
func (m ICMP) Validate(src, dst netip.Addr) error {
	if len(m) < ICMPHeaderLen {
		return ErrICMPTooShort
	}
	if len(m) > 0xffff || checksum.Sum(m, checksum.PseudoHeader(src, dst, stack.ProtocolICMPv6, uint16(len(m)))) != 0xffff {
		return ErrICMPBadChecksum
	}
	return nil
}

// Type is the message type.
func (m ICMP) Type() uint8 { return m[0] }

// Code is the message code.
func (m ICMP) Code() uint8 { return m[1] }

// Checksum is the checksum field.
func (m ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Rest is the 32-bit word after the checksum: echo id and sequence, the
// MTU of packet too big, the pointer of parameter problem.
func (m ICMP) Rest() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// ID is the identifier of an echo request or reply.
func (m ICMP) ID() uint16 { return binary.BigEndian.Uint16(m[4:]) }

// Seq is the sequence number of an echo request or reply.
func (m ICMP) Seq() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// MTU is the MTU of a packet too big message.
func (m ICMP) MTU() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// Pointer is the octet pointer of a parameter problem message.
func (m ICMP) Pointer() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// Payload is everything after the 8-byte header: echo data, or the quoted
// packet of an error.
func (m ICMP) Payload() []byte { return m[ICMPHeaderLen:] }

// EchoRest returns the rest word of an echo message.
func EchoRest(id, seq uint16) uint32 { return uint32(id)<<16 | uint32(seq) }

// ICMPFields are the values of an ICMPv6 message, for building one.
type ICMPFields struct {
	// Type and Code of the message.
	Type, Code uint8
	// Rest is the word after the checksum (see EchoRest; the MTU; the
	// pointer).
	Rest uint32
	// Payload, when not nil, is copied after the header by Encode.
	Payload []byte
}

// Encode writes the header into b[:8], copies Payload (if not nil) to
// b[8:], and computes the checksum over the pseudo-header of src and dst
// and all of b, which must therefore be exactly the message.
func (f *ICMPFields) Encode(b []byte, src, dst netip.Addr) {
	_ = b[ICMPHeaderLen-1]
	b[0], b[1], b[2], b[3] = f.Type, f.Code, 0, 0
	binary.BigEndian.PutUint32(b[4:], f.Rest)
	if f.Payload != nil {
		copy(b[ICMPHeaderLen:], f.Payload)
	}
	SetICMPChecksum(b, src, dst)
}

// SetICMPChecksum computes the checksum of the ICMPv6 message b (with its
// pseudo-header) and stores it.
func SetICMPChecksum(b []byte, src, dst netip.Addr) {
	b[2], b[3] = 0, 0
	c := checksum.Checksum(b, checksum.PseudoHeader(src, dst, stack.ProtocolICMPv6, uint16(len(b))))
	binary.BigEndian.PutUint16(b[2:], c)
}
