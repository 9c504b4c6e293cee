package ndp

import (
	"encoding/binary"
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// Option types (RFC 4861 4.6, RFC 7527, RFC 8106).
const (
	OptionSourceLinkAddr uint8 = 1
	OptionTargetLinkAddr uint8 = 2
	OptionPrefixInfo     uint8 = 3
	OptionRedirected     uint8 = 4
	OptionMTU            uint8 = 5
	OptionNonce          uint8 = 14
	OptionRDNSS          uint8 = 25
)

// Infinite is the lifetime value that never expires (0xffffffff seconds).
const Infinite = ^uint32(0)

// Option is a view of one option: type, length in units of 8 bytes, body.
// Options from an OptionIter always have their length checked against the
// message; the typed accessors also check the length their type needs.
type Option []byte

// Type is the option type.
func (o Option) Type() uint8 { return o[0] }

// OptionIter walks the options of a validated message without allocating.
type OptionIter struct{ b []byte }

// Next returns the next option; ok is false at the end (or at a malformed
// option, which Validate rejects).
func (it *OptionIter) Next() (Option, bool) {
	b := it.b
	if len(b) < 2 || b[1] == 0 || int(b[1])*8 > len(b) {
		return nil, false
	}
	n := int(b[1]) * 8
	it.b = b[n:]
	return Option(b[:n]), true
}

// LinkAddr returns the MAC of a link-layer address option; ok is false if
// its length is not Ethernet's (one unit).
func (o Option) LinkAddr() (stack.MAC, bool) {
	if len(o) != 8 {
		return stack.MAC{}, false
	}
	return stack.MAC(o[2:8]), true
}

// MTU returns the value of an MTU option; ok is false if it is malformed.
func (o Option) MTU() (uint32, bool) {
	if o[0] != OptionMTU || len(o) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint32(o[4:8]), true
}

// PrefixInfo is a prefix information option (RFC 4861 4.6.2).
type PrefixInfo struct {
	// Prefix is the prefix with its length (fd00:1::/64).
	Prefix netip.Prefix
	// OnLink (L) says addresses in the prefix are on the link; Autonomous
	// (A) that hosts may form addresses in it (SLAAC).
	OnLink, Autonomous bool
	// ValidLifetime and PreferredLifetime are in seconds; Infinite never
	// expires.
	ValidLifetime, PreferredLifetime uint32
}

// PrefixInfo decodes a prefix information option; ok is false if it is
// malformed (length not 4 units, prefix length over 128).
func (o Option) PrefixInfo() (PrefixInfo, bool) {
	if o[0] != OptionPrefixInfo || len(o) != 32 || o[2] > 128 {
		return PrefixInfo{}, false
	}
	return PrefixInfo{
		Prefix:            netip.PrefixFrom(netip.AddrFrom16([16]byte(o[16:32])), int(o[2])),
		OnLink:            o[3]&0x80 != 0,
		Autonomous:        o[3]&0x40 != 0,
		ValidLifetime:     binary.BigEndian.Uint32(o[4:8]),
		PreferredLifetime: binary.BigEndian.Uint32(o[8:12]),
	}, true
}

func (p *PrefixInfo) encode(b []byte) []byte {
	b[0], b[1], b[2], b[3] = OptionPrefixInfo, 4, byte(p.Prefix.Bits()), 0
	if p.OnLink {
		b[3] |= 0x80
	}
	if p.Autonomous {
		b[3] |= 0x40
	}
	binary.BigEndian.PutUint32(b[4:8], p.ValidLifetime)
	binary.BigEndian.PutUint32(b[8:12], p.PreferredLifetime)
	clear(b[12:16])
	putAddr(b[16:32], p.Prefix.Masked().Addr())
	return b[32:]
}

// RDNSS is a recursive DNS server option (RFC 8106 5.1).
type RDNSS struct {
	// Lifetime is in seconds; 0 withdraws the servers, Infinite never
	// expires.
	Lifetime uint32
	// Servers are the DNS servers' addresses.
	Servers []netip.Addr
}

// RDNSSLen returns the lifetime and number of servers of an RDNSS option;
// ok is false if it is malformed (length below 3 or even, RFC 8106 5.1).
func (o Option) RDNSSLen() (lifetime uint32, n int, ok bool) {
	if o[0] != OptionRDNSS || o[1] < 3 || o[1]%2 == 0 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(o[4:8]), (len(o) - 8) / 16, true
}

// RDNSSServer returns server i (0 <= i < n from RDNSSLen).
func (o Option) RDNSSServer(i int) netip.Addr {
	return netip.AddrFrom16([16]byte(o[8+16*i : 24+16*i]))
}

// RouterAdvertisement is the content of an RA (RFC 4861 4.2) with the
// options a host uses.
type RouterAdvertisement struct {
	// CurHopLimit is the suggested hop limit, 0 for unspecified.
	CurHopLimit uint8
	// Managed and Other are the M and O flags (DHCPv6).
	Managed, Other bool
	// RouterLifetime is in seconds; 0 means "not a default router".
	RouterLifetime uint16
	// ReachableTime and RetransTimer are in milliseconds, 0 unspecified.
	ReachableTime, RetransTimer uint32
	// SourceLinkAddr is the router's MAC; zero for none.
	SourceLinkAddr stack.MAC
	// MTU is the link MTU option; 0 for none.
	MTU uint32
	// Prefixes are the prefix information options.
	Prefixes []PrefixInfo
	// DNS are the RDNSS options.
	DNS []RDNSS
}

// RouterAdvertisement decodes a validated RA; malformed options are
// skipped (RFC 4861 4.6: silently ignored).
func (m Message) RouterAdvertisement() RouterAdvertisement {
	f := RouterAdvertisement{
		CurHopLimit:    m.CurHopLimit(),
		Managed:        m.Managed(),
		Other:          m.Other(),
		RouterLifetime: m.RouterLifetime(),
		ReachableTime:  m.ReachableTime(),
		RetransTimer:   m.RetransTimer(),
	}
	for it := m.Options(); ; {
		o, ok := it.Next()
		if !ok {
			break
		}
		switch o.Type() {
		case OptionSourceLinkAddr:
			if mac, ok := o.LinkAddr(); ok && f.SourceLinkAddr.IsZero() {
				f.SourceLinkAddr = mac
			}
		case OptionMTU:
			if v, ok := o.MTU(); ok {
				f.MTU = v
			}
		case OptionPrefixInfo:
			if p, ok := o.PrefixInfo(); ok {
				f.Prefixes = append(f.Prefixes, p)
			}
		case OptionRDNSS:
			if lt, n, ok := o.RDNSSLen(); ok {
				r := RDNSS{Lifetime: lt, Servers: make([]netip.Addr, n)}
				for i := range n {
					r.Servers[i] = o.RDNSSServer(i)
				}
				f.DNS = append(f.DNS, r)
			}
		}
	}
	return f
}

// Len is the encoded length.
func (f *RouterAdvertisement) Len() int {
	n := raLen + 32*len(f.Prefixes)
	if !f.SourceLinkAddr.IsZero() {
		n += 8
	}
	if f.MTU != 0 {
		n += 8
	}
	for _, r := range f.DNS {
		if len(r.Servers) > 0 {
			n += 8 + 16*len(r.Servers)
		}
	}
	return n
}

// Encode writes the message into b[:f.Len()] with a zero checksum.
func (f *RouterAdvertisement) Encode(b []byte) {
	_ = b[f.Len()-1]
	putHeader(b, TypeRouterAdvertisement)
	b[4], b[5] = f.CurHopLimit, 0
	if f.Managed {
		b[5] |= 0x80
	}
	if f.Other {
		b[5] |= 0x40
	}
	binary.BigEndian.PutUint16(b[6:8], f.RouterLifetime)
	binary.BigEndian.PutUint32(b[8:12], f.ReachableTime)
	binary.BigEndian.PutUint32(b[12:16], f.RetransTimer)
	o := b[raLen:]
	if !f.SourceLinkAddr.IsZero() {
		o = putLinkAddr(o, OptionSourceLinkAddr, f.SourceLinkAddr)
	}
	if f.MTU != 0 {
		o[0], o[1], o[2], o[3] = OptionMTU, 1, 0, 0
		binary.BigEndian.PutUint32(o[4:8], f.MTU)
		o = o[8:]
	}
	for i := range f.Prefixes {
		o = f.Prefixes[i].encode(o)
	}
	for _, r := range f.DNS {
		if len(r.Servers) == 0 {
			continue // a server-less RDNSS option would be malformed
		}
		o[0], o[1], o[2], o[3] = OptionRDNSS, byte(1+2*len(r.Servers)), 0, 0
		binary.BigEndian.PutUint32(o[4:8], r.Lifetime)
		for i, s := range r.Servers {
			putAddr(o[8+16*i:24+16*i], s)
		}
		o = o[8+16*len(r.Servers):]
	}
}
