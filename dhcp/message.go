package dhcp

import (
	"encoding/binary"
	"errors"
	"iter"
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// Ports of the protocol.
const (
	ServerPort = 67
	ClientPort = 68
)

// Op codes of the fixed header.
const (
	OpRequest uint8 = 1 // BOOTREQUEST, client to server
	OpReply   uint8 = 2 // BOOTREPLY, server to client
)

// FlagBroadcast asks servers to broadcast their replies (RFC 2131 4.1).
const FlagBroadcast uint16 = 0x8000

// HeaderLen is the length of the fixed BOOTP header, up to the options.
const HeaderLen = 236

// MinLen is the shortest valid message: the fixed header and the magic
// cookie.
const MinLen = HeaderLen + 4

// MaxLen is the largest message the client builds or accepts (a full
// Ethernet payload: 1500 - 20 - 8).
const MaxLen = 1472

// magicCookie starts the options field (RFC 2131 3).
var magicCookie = [4]byte{99, 130, 83, 99}

// Validation errors.
var (
	ErrTooShort     = errors.New("dhcp: message shorter than 240 bytes")
	ErrBadCookie    = errors.New("dhcp: bad magic cookie")
	ErrBadOption    = errors.New("dhcp: option runs past the end of the message")
	ErrBadHardware  = errors.New("dhcp: hardware address length over 16")
	ErrBadOptionLen = errors.New("dhcp: option has a wrong length for its code")
)

// Message is a view of a DHCP message (the UDP payload). Call Validate
// before any accessor: after it succeeds no accessor can panic.
type Message []byte

// Validate checks the fixed header, the magic cookie, that every option
// fits in the message, and the lengths of the options this package
// interprets.
func (m Message) Validate() error {
	if len(m) < MinLen {
		return ErrTooShort
	}
	if m[2] > 16 {
		return ErrBadHardware
	}
	if [4]byte(m[HeaderLen:MinLen]) != magicCookie {
		return ErrBadCookie
	}
	opts := m[MinLen:]
	for i := 0; i < len(opts); {
		code := opts[i]
		if code == OptPad {
			i++
			continue
		}
		if code == OptEnd {
			return nil
		}
		if i+1 >= len(opts) || i+2+int(opts[i+1]) > len(opts) {
			return ErrBadOption
		}
		if !validOptionLen(code, int(opts[i+1])) {
			return ErrBadOptionLen
		}
		i += 2 + int(opts[i+1])
	}
	return nil // a missing End is tolerated, as most clients do
}

// validOptionLen checks the length of options whose format we rely on.
func validOptionLen(code uint8, n int) bool {
	switch code {
	case OptSubnetMask, OptRequestedIP, OptLeaseTime, OptServerID, OptT1, OptT2:
		return n == 4
	case OptRouter, OptDNS:
		return n >= 4 && n%4 == 0
	case OptMessageType:
		return n == 1
	}
	return true
}

// Op returns the op code (OpRequest or OpReply).
func (m Message) Op() uint8 { return m[0] }

// HType returns the hardware address type (1 for Ethernet).
func (m Message) HType() uint8 { return m[1] }

// HLen returns the hardware address length.
func (m Message) HLen() uint8 { return m[2] }

// Hops returns the relay hop count.
func (m Message) Hops() uint8 { return m[3] }

// XID returns the transaction ID.
func (m Message) XID() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// Secs returns the seconds elapsed since the client began acquisition.
func (m Message) Secs() uint16 { return binary.BigEndian.Uint16(m[8:]) }

// Flags returns the flags field (FlagBroadcast).
func (m Message) Flags() uint16 { return binary.BigEndian.Uint16(m[10:]) }

// CIAddr returns the client's current address (set when renewing).
func (m Message) CIAddr() netip.Addr { return addr4(m[12:]) }

// YIAddr returns "your" address: the address offered or assigned.
func (m Message) YIAddr() netip.Addr { return addr4(m[16:]) }

// SIAddr returns the next server's address (BOOTP).
func (m Message) SIAddr() netip.Addr { return addr4(m[20:]) }

// GIAddr returns the relay agent's address.
func (m Message) GIAddr() netip.Addr { return addr4(m[24:]) }

// CHAddr returns the first six bytes of the client hardware address.
func (m Message) CHAddr() stack.MAC { return stack.MAC(m[28:34]) }

// Options returns the raw options field after the magic cookie.
func (m Message) Options() []byte { return m[MinLen:] }

// Option returns the data of the first option with the given code.
func (m Message) Option(code uint8) ([]byte, bool) {
	for c, data := range m.options() {
		if c == code {
			return data, true
		}
	}
	return nil, false
}

// options yields each option's code and data in order, skipping pads and
// stopping at End or at an option that runs past the field.
func (m Message) options() iter.Seq2[uint8, []byte] {
	return func(yield func(uint8, []byte) bool) {
		opts := m.Options()
		for i := 0; i < len(opts); {
			c := opts[i]
			if c == OptPad {
				i++
				continue
			}
			if c == OptEnd || i+1 >= len(opts) {
				return
			}
			n := int(opts[i+1])
			if i+2+n > len(opts) || !yield(c, opts[i+2:i+2+n]) {
				return
			}
			i += 2 + n
		}
	}
}

// MessageType returns the DHCP message type (option 53), or 0 for a plain
// BOOTP message.
func (m Message) MessageType() MessageType {
	if b, ok := m.Option(OptMessageType); ok && len(b) == 1 {
		return MessageType(b[0])
	}
	return 0
}

// Fields decodes the message into a Fields value (allocating the slices
// of list options).
func (m Message) Fields() Fields {
	f := Fields{
		Op:     m.Op(),
		HType:  m.HType(),
		Hops:   m.Hops(),
		XID:    m.XID(),
		Secs:   m.Secs(),
		Flags:  m.Flags(),
		CIAddr: m.CIAddr(),
		YIAddr: m.YIAddr(),
		SIAddr: m.SIAddr(),
		GIAddr: m.GIAddr(),
		CHAddr: m.CHAddr(),
	}
	for c, data := range m.options() {
		f.setOption(c, data)
	}
	return f
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }
