package stack

import (
	"errors"
	"fmt"
	"net"
)

// MAC is an IEEE 802 48-bit hardware address, a comparable value.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ParseMAC parses a colon- or dash-separated 48-bit address such as
// "02:00:5e:10:00:01".
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return MAC{}, fmt.Errorf("malformed MAC address %q: want six hex bytes like 02:00:00:00:00:01", s)
	}
	var m MAC
	copy(m[:], hw)
	return m, nil
}

// String formats the address as lower-case hex bytes separated by colons.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return string(b)
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// ErrZeroMAC is returned for an all-zero address where a unicast one is needed.
var ErrZeroMAC = errors.New("MAC address is all zeros")
