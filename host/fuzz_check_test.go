package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// fzCheckFrame checks one frame the host wrote on the interface with
// address mac; in are the frames delivered to the host so far.
func fzCheckFrame(b []byte, mac stack.MAC, in [][]byte) error {
	if len(b) < link.EthernetHeaderLen {
		return fmt.Errorf("frame of %d bytes", len(b))
	}
	if len(b) > link.EthernetHeaderLen+1500 {
		return fmt.Errorf("frame of %d bytes over the 1500-byte MTU", len(b))
	}
	if src := stack.MAC(b[6:12]); src != mac {
		return fmt.Errorf("source MAC %v, want the interface's %v", src, mac)
	}
	payload := b[link.EthernetHeaderLen:]
	switch et := binary.BigEndian.Uint16(b[12:14]); et {
	case stack.EtherTypeARP:
		return fzCheckARP(b, mac)
	case stack.EtherTypeIPv4:
		return fzCheckIPv4(b, payload, in)
	case stack.EtherTypeIPv6:
		return fzCheckIPv6(b, payload, in)
	default:
		return fmt.Errorf("EtherType %#04x", et)
	}
}

func fzCheckARP(b []byte, mac stack.MAC) error {
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	a, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok {
		return errors.New("gopacket found no ARP layer")
	}
	switch {
	case a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 || a.HwAddressSize != 6 || a.ProtAddressSize != 4:
		return fmt.Errorf("ARP of hardware %v/%d protocol %v/%d", a.AddrType, a.HwAddressSize, a.Protocol, a.ProtAddressSize)
	case a.Operation != layers.ARPRequest && a.Operation != layers.ARPReply:
		return fmt.Errorf("ARP operation %d", a.Operation)
	case !bytes.Equal(a.SourceHwAddress, mac[:]):
		return fmt.Errorf("ARP sender MAC %v, want %v", net.HardwareAddr(a.SourceHwAddress), mac)
	}
	return nil
}

func fzCheckIPv4(b, p []byte, in [][]byte) error {
	if len(p) < 20 {
		return fmt.Errorf("IPv4 packet of %d bytes", len(p))
	}
	if v := p[0] >> 4; v != 4 {
		return fmt.Errorf("IP version %d", v)
	}
	ihl := int(p[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	switch {
	case ihl < 20 || ihl > len(p):
		return fmt.Errorf("IPv4 header length %d in %d bytes", ihl, len(p))
	case total < ihl || total > len(p):
		return fmt.Errorf("IPv4 total length %d, header %d, frame payload %d", total, ihl, len(p))
	case fzFold(fzSum(p[:ihl], 0)) != 0xffff:
		return errors.New("bad IPv4 header checksum")
	case p[8] == 0:
		return errors.New("TTL 0")
	}
	seg := p[ihl:total]
	// A router forwards transport data unchecked and unchanged: a packet
	// whose IP payload was delivered to us verbatim may be forwarded, and
	// its transport header is only as good as the fuzzer made it.
	for _, f := range in {
		if bytes.Contains(f, seg) {
			return nil
		}
	}
	src, _ := netip.AddrFromSlice(p[12:16])
	if !fzIsOurs(src) {
		return fmt.Errorf("source %v of a packet we made", src)
	}
	pkt := gopacket.NewPacket(b[:link.EthernetHeaderLen+total], layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	flags := binary.BigEndian.Uint16(p[6:8])
	if flags&0x2000 != 0 || flags&0x1fff != 0 {
		return nil // a fragment: the transport checksum spans all of them
	}
	proto := p[9]
	pseudo := fzSum(p[12:20], uint64(proto)+uint64(len(seg)))
	switch proto {
	case stack.ProtocolICMP:
		if len(seg) < 8 || fzFold(fzSum(seg, 0)) != 0xffff {
			return fmt.Errorf("bad ICMP message (%d bytes)", len(seg))
		}
	case stack.ProtocolTCP:
		if len(seg) < 20 || fzFold(fzSum(seg, pseudo)) != 0xffff {
			return fmt.Errorf("bad TCP segment (%d bytes)", len(seg))
		}
	case stack.ProtocolUDP:
		switch {
		case len(seg) < 8:
			return fmt.Errorf("UDP datagram of %d bytes", len(seg))
		case int(binary.BigEndian.Uint16(seg[4:6])) != len(seg):
			return fmt.Errorf("UDP length %d in %d bytes", binary.BigEndian.Uint16(seg[4:6]), len(seg))
		case binary.BigEndian.Uint16(seg[6:8]) != 0 && fzFold(fzSum(seg, pseudo)) != 0xffff:
			return errors.New("bad UDP checksum")
		}
	}
	return nil
}

func fzIsOurs(a netip.Addr) bool {
	for _, o := range fzOurIPs {
		if a == o {
			return true
		}
	}
	return false
}

// fzSum and fzFold are a plain RFC 1071 checksum, independent of the
// stack's internal/checksum.
func fzSum(b []byte, s uint64) uint64 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint64(b[0])<<8 | uint64(b[1])
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fzFold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
