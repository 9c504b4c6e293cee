package arp

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// Len is the length of an Ethernet/IPv4 ARP packet (RFC 826): an 8-byte
// fixed part plus two 6-byte hardware and two 4-byte protocol addresses.
// Frames carrying one are usually padded to the Ethernet minimum; the
// padding follows the 28 bytes and is ignored.
const Len = 28

// Operation codes (RFC 826).
const (
	OpRequest uint16 = 1
	OpReply   uint16 = 2
)

// Fixed field values of Ethernet/IPv4 ARP.
const (
	HardwareEthernet uint16 = 1      // hrd: Ethernet (10Mb)
	ProtocolIPv4     uint16 = 0x0800 // pro: the IPv4 EtherType
	hardwareLen             = 6      // hln
	protocolLen             = 4      // pln
)

// Errors returned by Header.Validate, one per reason so callers and tests
// can tell them apart.
var (
	ErrTooShort       = errors.New("arp: packet shorter than 28 bytes")
	ErrHardwareType   = errors.New("arp: hardware type is not Ethernet (1)")
	ErrProtocolType   = errors.New("arp: protocol type is not IPv4 (0x0800)")
	ErrHardwareLength = errors.New("arp: hardware address length is not 6")
	ErrProtocolLength = errors.New("arp: protocol address length is not 4")
)

// Header is a view of an ARP packet: the bytes from the start of the ARP
// header. Call Validate first; after it returns nil no accessor panics.
//
//	 0      2      4    5    6      8           14      18          24      28
//	+------+------+----+----+------+-----------+-------+-----------+-------+
//	| hrd  | pro  |hln |pln | op   | sha       | spa   | tha       | tpa   |
//	+------+------+----+----+------+-----------+-------+-----------+-------+
type Header []byte

// Validate checks that h is an Ethernet/IPv4 ARP packet: at least Len bytes,
// hardware type 1, protocol type 0x0800, address lengths 6 and 4. It does
// not judge the operation code; see Op.
func (h Header) Validate() error {
	switch {
	case len(h) < Len:
		return ErrTooShort
	case binary.BigEndian.Uint16(h[0:2]) != HardwareEthernet:
		return ErrHardwareType
	case binary.BigEndian.Uint16(h[2:4]) != ProtocolIPv4:
		return ErrProtocolType
	case h[4] != hardwareLen:
		return ErrHardwareLength
	case h[5] != protocolLen:
		return ErrProtocolLength
	}
	return nil
}

// Op is the operation code (OpRequest, OpReply, or something else).
func (h Header) Op() uint16 { return binary.BigEndian.Uint16(h[6:8]) }

// SenderMAC is the sender hardware address (sha).
func (h Header) SenderMAC() stack.MAC { return stack.MAC(h[8:14]) }

// SenderIP is the sender protocol address (spa).
func (h Header) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(h[14:18])) }

// TargetMAC is the target hardware address (tha).
func (h Header) TargetMAC() stack.MAC { return stack.MAC(h[18:24]) }

// TargetIP is the target protocol address (tpa).
func (h Header) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(h[24:28])) }

// Fields returns the decoded fields of a validated header.
func (h Header) Fields() Fields {
	return Fields{
		Op:        h.Op(),
		SenderMAC: h.SenderMAC(),
		SenderIP:  h.SenderIP(),
		TargetMAC: h.TargetMAC(),
		TargetIP:  h.TargetIP(),
	}
}

// Fields are the variable fields of an Ethernet/IPv4 ARP packet.
type Fields struct {
	// Op is the operation code, OpRequest or OpReply.
	Op uint16
	// SenderMAC and SenderIP are the sender's addresses (sha, spa).
	SenderMAC stack.MAC
	SenderIP  netip.Addr
	// TargetMAC and TargetIP are the target's addresses (tha, tpa). In a
	// request TargetMAC is unknown and conventionally zero.
	TargetMAC stack.MAC
	TargetIP  netip.Addr
}

// Encode writes the packet into b[:Len], with the fixed Ethernet/IPv4
// values. b must be at least Len bytes long. An address that is not IPv4
// (including the zero Addr) is written as 0.0.0.0.
func (f *Fields) Encode(b []byte) {
	_ = b[Len-1]
	binary.BigEndian.PutUint16(b[0:2], HardwareEthernet)
	binary.BigEndian.PutUint16(b[2:4], ProtocolIPv4)
	b[4] = hardwareLen
	b[5] = protocolLen
	binary.BigEndian.PutUint16(b[6:8], f.Op)
	copy(b[8:14], f.SenderMAC[:])
	putIPv4(b[14:18], f.SenderIP)
	copy(b[18:24], f.TargetMAC[:])
	putIPv4(b[24:28], f.TargetIP)
}

// putIPv4 writes a as four bytes, or zeros if a is not an IPv4 address.
func putIPv4(b []byte, a netip.Addr) {
	a = a.Unmap()
	if !a.Is4() {
		clear(b[:4])
		return
	}
	v := a.As4()
	copy(b, v[:])
}
