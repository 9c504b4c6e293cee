package lacp

import (
	"encoding/binary"
	"errors"

	"github.com/tapstack/tapstack/stack"
)

// Slow Protocols addressing (IEEE 802.3 Annex 57A).
const (
	// EtherType is the Slow Protocols EtherType.
	EtherType = 0x8809
	// SubtypeLACP and SubtypeMarker are the Slow Protocols subtypes.
	SubtypeLACP   = 1
	SubtypeMarker = 2
	// PDULen is the length of an LACPDU and of a Marker PDU after the
	// Ethernet header (both are padded to this size).
	PDULen = 110
)

// SlowProtocolsMAC is the destination of every LACPDU and Marker PDU.
var SlowProtocolsMAC = stack.MAC{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02}

// LACPDU TLV types and lengths (802.1AX-2014 6.4.2.3).
const (
	tlvTerminator = 0
	tlvActor      = 1
	tlvPartner    = 2
	tlvCollector  = 3
	infoLen       = 20
	collectorLen  = 16
	versionLACP   = 1
)

// Errors of Validate.
var (
	ErrTooShort   = errors.New("lacp: PDU too short")
	ErrSubtype    = errors.New("lacp: wrong Slow Protocols subtype")
	ErrVersion    = errors.New("lacp: unsupported version")
	ErrTLV        = errors.New("lacp: malformed TLV")
	ErrMarkerType = errors.New("lacp: unknown marker TLV type")
)

// State is the one-octet port state of 802.1AX-2014 6.4.2.3.
type State uint8

// State bits.
const (
	StateActivity     State = 1 << iota // LACP_Activity: active LACP
	StateTimeout                        // LACP_Timeout: short timeout (fast)
	StateAggregation                    // aggregatable (not Individual)
	StateSync                           // Synchronization: in sync
	StateCollecting                     // Collecting enabled
	StateDistributing                   // Distributing enabled
	StateDefaulted                      // using defaulted partner info
	StateExpired                        // receive machine in EXPIRED
)

// Has reports whether every bit of b is set in s.
func (s State) Has(b State) bool { return s&b == b }

// Info is the Actor or Partner information of an LACPDU: who a port is.
type Info struct {
	SystemPriority uint16
	System         stack.MAC
	Key            uint16
	PortPriority   uint16
	Port           uint16
	State          State
}

// sameLink reports whether a and b name the same port of the same system
// with the same key (all but the state: 802.1AX's "parameter values").
func (a Info) sameLink(b Info) bool {
	return a.SystemPriority == b.SystemPriority && a.System == b.System && a.Key == b.Key &&
		a.PortPriority == b.PortPriority && a.Port == b.Port
}

func (a Info) encode(b []byte, typ byte) {
	b[0], b[1] = typ, infoLen
	binary.BigEndian.PutUint16(b[2:], a.SystemPriority)
	copy(b[4:10], a.System[:])
	binary.BigEndian.PutUint16(b[10:], a.Key)
	binary.BigEndian.PutUint16(b[12:], a.PortPriority)
	binary.BigEndian.PutUint16(b[14:], a.Port)
	b[16] = byte(a.State)
	clear(b[17:20])
}

func decodeInfo(b []byte) Info {
	return Info{
		SystemPriority: binary.BigEndian.Uint16(b[2:]),
		System:         stack.MAC(b[4:10]),
		Key:            binary.BigEndian.Uint16(b[10:]),
		PortPriority:   binary.BigEndian.Uint16(b[12:]),
		Port:           binary.BigEndian.Uint16(b[14:]),
		State:          State(b[16]),
	}
}

// LACPDU is a view of an LACPDU: the bytes after the Ethernet header,
// starting at the subtype. Call Validate before the accessors; after it
// succeeds they cannot panic.
type LACPDU []byte

// Validate checks the subtype, the version (1 or later: 802.1AX-2014
// 6.4.2.3 says a later version is parsed as version 1), and the Actor,
// Partner, Collector and Terminator TLVs in their places with their
// lengths.
func (p LACPDU) Validate() error {
	if len(p) < PDULen {
		return ErrTooShort
	}
	if p[0] != SubtypeLACP {
		return ErrSubtype
	}
	if p[1] < versionLACP {
		return ErrVersion
	}
	if p[2] != tlvActor || p[3] != infoLen || p[22] != tlvPartner || p[23] != infoLen ||
		p[42] != tlvCollector || p[43] != collectorLen || p[58] != tlvTerminator || p[59] != 0 {
		return ErrTLV
	}
	return nil
}

// Version returns the LACP version.
func (p LACPDU) Version() uint8 { return p[1] }

// Actor returns the sender's information.
func (p LACPDU) Actor() Info { return decodeInfo(p[2:22]) }

// Partner returns what the sender knows of us.
func (p LACPDU) Partner() Info { return decodeInfo(p[22:42]) }

// CollectorMaxDelay returns the Collector Information's maximum delay
// in tens of microseconds.
func (p LACPDU) CollectorMaxDelay() uint16 { return binary.BigEndian.Uint16(p[44:46]) }

// Fields returns the PDU's fields.
func (p LACPDU) Fields() LACPDUFields {
	return LACPDUFields{Actor: p.Actor(), Partner: p.Partner(), CollectorMaxDelay: p.CollectorMaxDelay()}
}

// LACPDUFields are the fields of an LACPDU.
type LACPDUFields struct {
	Actor, Partner    Info
	CollectorMaxDelay uint16
}

// Encode writes the PDU (version 1) into the first PDULen bytes of b,
// zeroing the reserved octets.
func (f LACPDUFields) Encode(b []byte) {
	_ = b[PDULen-1]
	b[0], b[1] = SubtypeLACP, versionLACP
	f.Actor.encode(b[2:22], tlvActor)
	f.Partner.encode(b[22:42], tlvPartner)
	b[42], b[43] = tlvCollector, collectorLen
	binary.BigEndian.PutUint16(b[44:], f.CollectorMaxDelay)
	clear(b[46:PDULen])
}

// Marker TLV types (802.1AX-2014 6.5.3.3).
const (
	MarkerInfo     = 1 // a Marker PDU asking for a response
	MarkerResponse = 2 // the Marker Response PDU
	markerInfoLen  = 16
)

// MarkerPDU is a view of a Marker or Marker Response PDU, starting at
// the subtype. Call Validate before the accessors.
type MarkerPDU []byte

// Validate checks the subtype, version, a Marker Information or Marker
// Response TLV of length 16 and the Terminator.
func (p MarkerPDU) Validate() error {
	if len(p) < PDULen {
		return ErrTooShort
	}
	if p[0] != SubtypeMarker {
		return ErrSubtype
	}
	if p[1] < versionLACP {
		return ErrVersion
	}
	if p[2] != MarkerInfo && p[2] != MarkerResponse {
		return ErrMarkerType
	}
	if p[3] != markerInfoLen || p[18] != tlvTerminator || p[19] != 0 {
		return ErrTLV
	}
	return nil
}

// Fields returns the PDU's fields.
func (p MarkerPDU) Fields() MarkerFields {
	return MarkerFields{
		Type:          p[2],
		Port:          binary.BigEndian.Uint16(p[4:]),
		System:        stack.MAC(p[6:12]),
		TransactionID: binary.BigEndian.Uint32(p[12:]),
	}
}

// MarkerFields are the fields of a Marker PDU: the requester's port and
// system and its transaction ID, which a response echoes.
type MarkerFields struct {
	Type          uint8 // MarkerInfo or MarkerResponse
	Port          uint16
	System        stack.MAC
	TransactionID uint32
}

// Encode writes the PDU into the first PDULen bytes of b.
func (f MarkerFields) Encode(b []byte) {
	_ = b[PDULen-1]
	b[0], b[1], b[2], b[3] = SubtypeMarker, versionLACP, f.Type, markerInfoLen
	binary.BigEndian.PutUint16(b[4:], f.Port)
	copy(b[6:12], f.System[:])
	binary.BigEndian.PutUint32(b[12:], f.TransactionID)
	clear(b[16:PDULen])
}

// Response returns the Marker Response PDU that answers f (802.1AX-2014
// 6.5.4.2: the same fields, TLV type Marker Response).
func (f MarkerFields) Response() MarkerFields {
	f.Type = MarkerResponse
	return f
}
