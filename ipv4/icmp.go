package ipv4

import (
	"encoding/binary"
	"errors"

	"github.com/tapstack/tapstack/internal/checksum"
)

// ICMPHeaderLen is the length of the ICMP header: type, code, checksum and
// the four rest-of-header bytes.
const ICMPHeaderLen = 8

// ICMP message types (RFC 792).
const (
	ICMPEchoReply      uint8 = 0
	ICMPDestUnreach    uint8 = 3
	ICMPSourceQuench   uint8 = 4
	ICMPRedirect       uint8 = 5
	ICMPEcho           uint8 = 8
	ICMPTimeExceeded   uint8 = 11
	ICMPParamProblem   uint8 = 12
	ICMPTimestamp      uint8 = 13
	ICMPTimestampReply uint8 = 14
)

// Codes of ICMPDestUnreach (RFC 792, RFC 1122, RFC 1812).
const (
	CodeNetUnreachable      uint8 = 0
	CodeHostUnreachable     uint8 = 1
	CodeProtocolUnreachable uint8 = 2
	CodePortUnreachable     uint8 = 3
	CodeFragmentationNeeded uint8 = 4
	CodeSourceRouteFailed   uint8 = 5
	CodeNetUnknown          uint8 = 6
	CodeHostUnknown         uint8 = 7
	CodeHostIsolated        uint8 = 8
	CodeNetProhibited       uint8 = 9
	CodeHostProhibited      uint8 = 10
	CodeNetUnreachableTOS   uint8 = 11
	CodeHostUnreachableTOS  uint8 = 12
	CodeAdminProhibited     uint8 = 13
	CodePrecedenceViolation uint8 = 14
	CodePrecedenceCutoff    uint8 = 15
)

// Codes of ICMPTimeExceeded.
const (
	CodeTTLExceeded        uint8 = 0
	CodeReassemblyExceeded uint8 = 1
)

// Validation errors of ICMP.Validate.
var (
	// ErrICMPTooShort: fewer than ICMPHeaderLen bytes.
	ErrICMPTooShort = errors.New("icmp: message shorter than 8 bytes")
	// ErrICMPBadChecksum: the checksum over the message does not verify.
	ErrICMPBadChecksum = errors.New("icmp: bad checksum")
)

// IsICMPError reports whether an ICMP type is an error message (one that
// must never be answered by another error, RFC 1122 3.2.2).
func IsICMPError(typ uint8) bool {
	switch typ {
	case ICMPDestUnreach, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return false
}

// ICMP is a view of an ICMP message: header and payload. Call Validate
// before any accessor; after a nil Validate no accessor panics.
type ICMP []byte

// Validate checks the length and the checksum over the whole message.
func (m ICMP) Validate() error {
	if len(m) < ICMPHeaderLen {
		return ErrICMPTooShort
	}
	if checksum.Sum(m, 0) != 0xffff {
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

// Rest is the rest-of-header word (bytes 4 to 7).
func (m ICMP) Rest() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// ID is the identifier of an echo request or reply.
func (m ICMP) ID() uint16 { return binary.BigEndian.Uint16(m[4:]) }

// Seq is the sequence number of an echo request or reply.
func (m ICMP) Seq() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// MTU is the next-hop MTU of a fragmentation-needed message (RFC 1191).
func (m ICMP) MTU() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// Pointer is the octet pointer of a parameter-problem message.
func (m ICMP) Pointer() uint8 { return m[4] }

// Payload is everything after the 8-byte header: echo data, or the quoted
// IP header and start of the datagram of an error.
func (m ICMP) Payload() []byte { return m[ICMPHeaderLen:] }

// SetType changes the type and updates the checksum incrementally.
func (m ICMP) SetType(typ uint8) {
	old := binary.BigEndian.Uint16(m[0:])
	m[0] = typ
	c := checksum.Update(m.Checksum(), old, binary.BigEndian.Uint16(m[0:]))
	if c == 0 {
		// RFC 1624 cannot tell a message whose other words sum to -0
		// (field 0 is right) from an all-zero one (field 0xffff): rare,
		// so settle it with a full sum.
		m[2], m[3] = 0, 0
		c = checksum.Checksum(m, 0)
	}
	binary.BigEndian.PutUint16(m[2:], c)
}

// EchoRest returns the rest-of-header word of an echo message.
func EchoRest(id, seq uint16) uint32 { return uint32(id)<<16 | uint32(seq) }

// MTURest returns the rest-of-header word of a fragmentation-needed message.
func MTURest(mtu uint16) uint32 { return uint32(mtu) }

// PointerRest returns the rest-of-header word of a parameter problem.
func PointerRest(ptr uint8) uint32 { return uint32(ptr) << 24 }

// ICMPFields are the values of an ICMP message, for building one.
type ICMPFields struct {
	// Type and Code of the message.
	Type, Code uint8
	// Rest is the rest-of-header word (see EchoRest, MTURest, PointerRest).
	Rest uint32
	// Payload, when not nil, is copied after the header by Encode.
	Payload []byte
}

// Encode writes the header into b[:8], copies Payload (if not nil) to
// b[8:], and computes the checksum over all of b, which must therefore be
// exactly the message (at least 8 bytes).
func (f *ICMPFields) Encode(b []byte) {
	_ = b[ICMPHeaderLen-1]
	b[0], b[1], b[2], b[3] = f.Type, f.Code, 0, 0
	binary.BigEndian.PutUint32(b[4:], f.Rest)
	if f.Payload != nil {
		copy(b[ICMPHeaderLen:], f.Payload)
	}
	binary.BigEndian.PutUint16(b[2:], checksum.Checksum(b, 0))
}
