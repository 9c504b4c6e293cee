package link

import (
	"encoding/binary"
	"errors"

	"github.com/tapstack/tapstack/stack"
)

// EthernetHeaderLen is the length of an Ethernet II header: destination and
// source MAC addresses and the EtherType.
const EthernetHeaderLen = 14

// MinEtherType is the smallest value of the type/length field that is an
// EtherType; smaller values are IEEE 802.3 lengths (LLC frames such as STP
// BPDUs), which this package does not carry.
const MinEtherType = 0x0600

// ErrTooShort is returned by Validate methods when the buffer is shorter
// than the header it should hold.
var ErrTooShort = errors.New("link: frame too short")

// EthernetHeader is a view of the first bytes of an Ethernet II frame.
// Call Validate before the accessors; after it succeeds they cannot panic.
type EthernetHeader []byte

// Validate checks that h is long enough to hold an Ethernet II header.
func (h EthernetHeader) Validate() error {
	if len(h) < EthernetHeaderLen {
		return ErrTooShort
	}
	return nil
}

// Dst returns the destination MAC address.
func (h EthernetHeader) Dst() stack.MAC { return stack.MAC(h[0:6]) }

// Src returns the source MAC address.
func (h EthernetHeader) Src() stack.MAC { return stack.MAC(h[6:12]) }

// EtherType returns the type/length field: an EtherType such as 0x0800, a
// VLAN TPID (0x8100, 0x88a8) for a tagged frame, or an 802.3 length below
// MinEtherType.
func (h EthernetHeader) EtherType() uint16 { return binary.BigEndian.Uint16(h[12:14]) }

// EthernetFields are the fields of an Ethernet II header.
type EthernetFields struct {
	Dst, Src  stack.MAC
	EtherType uint16
}

// Encode writes the header into the first EthernetHeaderLen bytes of b,
// which must be at least that long.
func (f EthernetFields) Encode(b []byte) {
	_ = b[EthernetHeaderLen-1]
	copy(b[0:6], f.Dst[:])
	copy(b[6:12], f.Src[:])
	binary.BigEndian.PutUint16(b[12:14], f.EtherType)
}
