package dhcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Option codes (RFC 2132) the package reads or writes.
const (
	OptPad         uint8 = 0
	OptSubnetMask  uint8 = 1
	OptRouter      uint8 = 3
	OptDNS         uint8 = 6
	OptHostname    uint8 = 12
	OptRequestedIP uint8 = 50
	OptLeaseTime   uint8 = 51
	OptMessageType uint8 = 53
	OptServerID    uint8 = 54
	OptParamList   uint8 = 55
	OptMessage     uint8 = 56
	OptMaxSize     uint8 = 57
	OptT1          uint8 = 58
	OptT2          uint8 = 59
	OptClientID    uint8 = 61
	OptEnd         uint8 = 255
)

// MessageType is the value of option 53.
type MessageType uint8

// The DHCP message types (RFC 2132 9.6).
const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
	Inform   MessageType = 8
)

var typeNames = [...]string{"", "DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPDECLINE", "DHCPACK", "DHCPNAK", "DHCPRELEASE", "DHCPINFORM"}

// String returns the RFC name, "DHCPDISCOVER" and so on.
func (t MessageType) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("DHCP(%d)", uint8(t))
}

// Option is an option the package does not interpret, kept as raw bytes.
type Option struct {
	Code uint8
	Data []byte
}

// Fields is a decoded DHCP message: the fixed header and the options this
// package knows as typed values. Zero values mean "absent" and are not
// encoded.
type Fields struct {
	Op     uint8
	HType  uint8 // 0 encodes as 1 (Ethernet)
	Hops   uint8
	XID    uint32
	Secs   uint16
	Flags  uint16
	CIAddr netip.Addr
	YIAddr netip.Addr
	SIAddr netip.Addr
	GIAddr netip.Addr
	CHAddr stack.MAC

	MessageType MessageType // option 53
	// SubnetMask (option 1) as a prefix length; 0 means absent, and a
	// non-contiguous mask decodes as -1 (and is not encoded).
	SubnetMask  int
	Router      []netip.Addr  // option 3
	DNS         []netip.Addr  // option 6
	Hostname    string        // option 12
	RequestedIP netip.Addr    // option 50
	LeaseTime   time.Duration // option 51, whole seconds
	ServerID    netip.Addr    // option 54
	ParamList   []uint8       // option 55
	Message     string        // option 56, an error text in a NAK
	MaxSize     uint16        // option 57
	T1          time.Duration // option 58
	T2          time.Duration // option 59
	ClientID    []byte        // option 61
	// Extra are other options, encoded in order after the known ones.
	Extra []Option
}

// Len returns the encoded length (fixed header, cookie, options, End).
func (f Fields) Len() int {
	n := MinLen + 1 // End
	add := func(present bool, l int) {
		if present {
			n += 2 + l
		}
	}
	add(f.MessageType != 0, 1)
	add(f.SubnetMask > 0, 4)
	add(len(f.Router) > 0, 4*len(f.Router))
	add(len(f.DNS) > 0, 4*len(f.DNS))
	add(f.Hostname != "", len(f.Hostname))
	add(f.RequestedIP.IsValid(), 4)
	add(f.LeaseTime > 0, 4)
	add(f.ServerID.IsValid(), 4)
	add(len(f.ParamList) > 0, len(f.ParamList))
	add(f.Message != "", len(f.Message))
	add(f.MaxSize > 0, 2)
	add(f.T1 > 0, 4)
	add(f.T2 > 0, 4)
	add(len(f.ClientID) > 0, len(f.ClientID))
	for _, o := range f.Extra {
		n += 2 + len(o.Data)
	}
	return n
}

// Encode writes the message into b, which must be at least f.Len() bytes
// long (it panics otherwise, like a slice index). Variable options longer
// than 255 bytes are truncated to 255; addresses that are not IPv4 are
// written as 0.0.0.0.
func (f Fields) Encode(b []byte) {
	b = b[:f.Len()]
	clear(b)
	b[0] = f.Op
	b[1] = f.HType
	if b[1] == 0 {
		b[1] = 1
	}
	b[2] = 6
	b[3] = f.Hops
	binary.BigEndian.PutUint32(b[4:], f.XID)
	binary.BigEndian.PutUint16(b[8:], f.Secs)
	binary.BigEndian.PutUint16(b[10:], f.Flags)
	putAddr(b[12:], f.CIAddr)
	putAddr(b[16:], f.YIAddr)
	putAddr(b[20:], f.SIAddr)
	putAddr(b[24:], f.GIAddr)
	copy(b[28:], f.CHAddr[:])
	copy(b[HeaderLen:], magicCookie[:])
	i := MinLen
	put := func(code uint8, data []byte) {
		if len(data) > 255 {
			data = data[:255]
		}
		b[i], b[i+1] = code, uint8(len(data))
		i += 2 + copy(b[i+2:], data)
	}
	var tmp [4]byte
	u32 := func(v uint32) []byte { binary.BigEndian.PutUint32(tmp[:], v); return tmp[:] }
	addrs := func(code uint8, as []netip.Addr) {
		b[i], b[i+1] = code, uint8(4*len(as))
		i += 2
		for _, a := range as {
			putAddr(b[i:], a)
			i += 4
		}
	}
	if f.MessageType != 0 {
		put(OptMessageType, []byte{uint8(f.MessageType)})
	}
	if f.SubnetMask > 0 {
		put(OptSubnetMask, u32(^uint32(0)<<(32-min(f.SubnetMask, 32))))
	}
	if len(f.Router) > 0 {
		addrs(OptRouter, f.Router[:min(len(f.Router), 63)])
	}
	if len(f.DNS) > 0 {
		addrs(OptDNS, f.DNS[:min(len(f.DNS), 63)])
	}
	if f.Hostname != "" {
		put(OptHostname, []byte(f.Hostname))
	}
	if f.RequestedIP.IsValid() {
		put(OptRequestedIP, f.RequestedIP.AsSlice())
	}
	if f.LeaseTime > 0 {
		put(OptLeaseTime, u32(seconds(f.LeaseTime)))
	}
	if f.ServerID.IsValid() {
		put(OptServerID, f.ServerID.AsSlice())
	}
	if len(f.ParamList) > 0 {
		put(OptParamList, f.ParamList)
	}
	if f.Message != "" {
		put(OptMessage, []byte(f.Message))
	}
	if f.MaxSize > 0 {
		binary.BigEndian.PutUint16(tmp[:], f.MaxSize)
		put(OptMaxSize, tmp[:2])
	}
	if f.T1 > 0 {
		put(OptT1, u32(seconds(f.T1)))
	}
	if f.T2 > 0 {
		put(OptT2, u32(seconds(f.T2)))
	}
	if len(f.ClientID) > 0 {
		put(OptClientID, f.ClientID)
	}
	for _, o := range f.Extra {
		put(o.Code, o.Data)
	}
	b[i] = OptEnd
}

// Marshal returns the encoded message in a new slice.
func (f Fields) Marshal() []byte {
	b := make([]byte, f.Len())
	f.Encode(b)
	return b
}

// seconds converts d to whole seconds for a 32-bit option (0xffffffff is
// "infinite").
func seconds(d time.Duration) uint32 {
	s := d / time.Second
	if s > 0xffffffff {
		return 0xffffffff
	}
	return uint32(s)
}

func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	}
}

// setOption decodes one option into f. Lengths of the typed ones were
// checked by Validate; anything malformed is kept in Extra.
func (f *Fields) setOption(code uint8, d []byte) {
	if !validOptionLen(code, len(d)) {
		f.Extra = append(f.Extra, Option{code, append([]byte(nil), d...)})
		return
	}
	switch code {
	case OptMessageType:
		f.MessageType = MessageType(d[0])
	case OptSubnetMask:
		f.SubnetMask = maskBits(binary.BigEndian.Uint32(d))
	case OptRouter:
		f.Router = addrList(d)
	case OptDNS:
		f.DNS = addrList(d)
	case OptHostname:
		f.Hostname = string(d)
	case OptRequestedIP:
		f.RequestedIP = addr4(d)
	case OptLeaseTime:
		f.LeaseTime = time.Duration(binary.BigEndian.Uint32(d)) * time.Second
	case OptServerID:
		f.ServerID = addr4(d)
	case OptParamList:
		f.ParamList = append([]uint8(nil), d...)
	case OptMessage:
		f.Message = string(d)
	case OptMaxSize:
		if len(d) == 2 {
			f.MaxSize = binary.BigEndian.Uint16(d)
		}
	case OptT1:
		f.T1 = time.Duration(binary.BigEndian.Uint32(d)) * time.Second
	case OptT2:
		f.T2 = time.Duration(binary.BigEndian.Uint32(d)) * time.Second
	case OptClientID:
		f.ClientID = append([]byte(nil), d...)
	default:
		f.Extra = append(f.Extra, Option{code, append([]byte(nil), d...)})
	}
}

func addrList(d []byte) []netip.Addr {
	out := make([]netip.Addr, 0, len(d)/4)
	for i := 0; i+4 <= len(d); i += 4 {
		out = append(out, addr4(d[i:]))
	}
	return out
}

// maskBits returns the prefix length of a contiguous netmask, or -1.
func maskBits(m uint32) int {
	n := 0
	for m&0x80000000 != 0 {
		m <<= 1
		n++
	}
	if m != 0 {
		return -1
	}
	return n
}
