package trace

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// decode describes a network packet (from its network header on) of the
// given EtherType, one line per layer, and fills s for the filter. It
// never panics on short or malformed input: what it cannot read it says.
func decode(b []byte, etherType uint16, s *Summary) []string {
	switch etherType {
	case 0x0806:
		return decodeARP(b, s)
	case 0x0800:
		return decodeIPv4(b, s)
	case 0x86dd:
		return decodeIPv6(b, s)
	}
	return []string{fmt.Sprintf("EtherType %#04x, %d bytes, not understood here", etherType, len(b))}
}

func decodeARP(b []byte, s *Summary) []string {
	s.Proto = "arp"
	if len(b) < 28 {
		return []string{fmt.Sprintf("ARP, truncated (%d bytes)", len(b))}
	}
	sha, spa := mac(b[8:14]), netip.AddrFrom4([4]byte(b[14:18]))
	tha, tpa := mac(b[18:24]), netip.AddrFrom4([4]byte(b[24:28]))
	s.Src, s.Dst = spa, tpa
	switch binary.BigEndian.Uint16(b[6:8]) {
	case 1:
		if spa == tpa {
			return []string{fmt.Sprintf("ARP announcement: %s is at %s", spa, sha)}
		}
		if !spa.IsValid() || spa.IsUnspecified() {
			return []string{fmt.Sprintf("ARP probe: is anyone using %s? (from %s)", tpa, sha)}
		}
		return []string{fmt.Sprintf("ARP request: who has %s? tell %s (%s)", tpa, spa, sha)}
	case 2:
		return []string{fmt.Sprintf("ARP reply: %s is at %s (to %s, %s)", spa, sha, tpa, tha)}
	}
	return []string{fmt.Sprintf("ARP, unknown operation %d", binary.BigEndian.Uint16(b[6:8]))}
}

func mac(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

func decodeIPv4(b []byte, s *Summary) []string {
	s.Proto = "ip"
	if len(b) < 20 || b[0]>>4 != 4 {
		return []string{fmt.Sprintf("IPv4, malformed header (%d bytes)", len(b))}
	}
	ihl := int(b[0]&15) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || ihl > len(b) || total < ihl || total > len(b) {
		return []string{fmt.Sprintf("IPv4, malformed header (%d bytes, header %d, total %d)", len(b), ihl, total)}
	}
	s.Src, s.Dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	line := fmt.Sprintf("IPv4 %s → %s, TTL %d, %d bytes", s.Src, s.Dst, b[8], total)
	frag := binary.BigEndian.Uint16(b[6:8])
	off, mf := int(frag&0x1fff)*8, frag&0x2000 != 0
	if frag&0x4000 != 0 {
		line += ", don't fragment"
	}
	if off != 0 || mf {
		line += fmt.Sprintf(", fragment id %d at offset %d", binary.BigEndian.Uint16(b[4:6]), off)
		if mf {
			line += ", more follow"
		}
		if off != 0 {
			return []string{line, fmt.Sprintf("protocol %d, not the first fragment: reassembly holds it", b[9])}
		}
	}
	return append([]string{line}, decodeTransport(b[9], b[ihl:total], s)...)
}

func decodeIPv6(b []byte, s *Summary) []string {
	s.Proto = "ip6"
	if len(b) < 40 || b[0]>>4 != 6 {
		return []string{fmt.Sprintf("IPv6, malformed header (%d bytes)", len(b))}
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if 40+plen > len(b) {
		return []string{fmt.Sprintf("IPv6, truncated (%d bytes, payload length %d)", len(b), plen)}
	}
	s.Src, s.Dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	line := fmt.Sprintf("IPv6 %s → %s, hop limit %d, %d bytes", s.Src, s.Dst, b[7], 40+plen)
	next, rest := b[6], b[40:40+plen]
	for i := 0; i < 8; i++ { // extension headers, bounded
		switch next {
		case 0, 43, 60:
			if len(rest) < 8 || 8+int(rest[1])*8 > len(rest) {
				return []string{line, "extension header truncated"}
			}
			next, rest = rest[0], rest[8+int(rest[1])*8:]
			continue
		case 44:
			if len(rest) < 8 {
				return []string{line, "fragment header truncated"}
			}
			fo := binary.BigEndian.Uint16(rest[2:4])
			line += fmt.Sprintf(", fragment id %d at offset %d", binary.BigEndian.Uint32(rest[4:8]), int(fo>>3)*8)
			if fo&1 != 0 {
				line += ", more follow"
			}
			if fo>>3 != 0 {
				return []string{line, "not the first fragment: reassembly holds it"}
			}
			next, rest = rest[0], rest[8:]
			continue
		}
		break
	}
	return append([]string{line}, decodeTransport(next, rest, s)...)
}

func decodeTransport(proto uint8, b []byte, s *Summary) []string {
	switch proto {
	case 6:
		return decodeTCP(b, s)
	case 17:
		s.Proto = "udp"
		if len(b) < 8 {
			return []string{"UDP, truncated"}
		}
		s.SrcPort, s.DstPort, s.Ports = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]), true
		return []string{fmt.Sprintf("UDP %d → %d, %d bytes of data", s.SrcPort, s.DstPort, len(b)-8)}
	case 1:
		s.Proto = "icmp"
		return []string{icmpLine("ICMP", b, icmp4Names)}
	case 58:
		s.Proto = "icmp6"
		s.Resolution = len(b) > 0 && b[0] >= 133 && b[0] <= 137
		return []string{icmpLine("ICMPv6", b, icmp6Names)}
	case 2:
		s.Proto = "igmp"
		return []string{"IGMP"}
	}
	return []string{fmt.Sprintf("protocol %d, %d bytes", proto, len(b))}
}

var icmp4Names = map[uint8]string{0: "echo reply", 3: "destination unreachable", 5: "redirect",
	8: "echo request", 11: "time exceeded", 12: "parameter problem"}
var icmp6Names = map[uint8]string{1: "destination unreachable", 2: "packet too big", 3: "time exceeded",
	4: "parameter problem", 128: "echo request", 129: "echo reply", 130: "MLD query", 131: "MLD report",
	133: "router solicitation", 134: "router advertisement", 135: "neighbour solicitation",
	136: "neighbour advertisement", 143: "MLDv2 report"}

func icmpLine(name string, b []byte, names map[uint8]string) string {
	if len(b) < 4 {
		return name + ", truncated"
	}
	t, ok := names[b[0]]
	if !ok {
		t = fmt.Sprintf("type %d", b[0])
	}
	line := fmt.Sprintf("%s %s", name, t)
	if b[1] != 0 {
		line += fmt.Sprintf(" code %d", b[1])
	}
	if (b[0] == 0 || b[0] == 8 || b[0] == 128 || b[0] == 129) && len(b) >= 8 {
		line += fmt.Sprintf(", id %d seq %d, %d bytes of data", binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint16(b[6:8]), len(b)-8)
	}
	if (b[0] == 135 || b[0] == 136) && len(b) >= 24 {
		line += " for " + netip.AddrFrom16([16]byte(b[8:24])).String()
	}
	return line
}

var flagNames = []struct {
	bit  uint8
	name string
}{{0x02, "SYN"}, {0x10, "ACK"}, {0x08, "PSH"}, {0x01, "FIN"}, {0x04, "RST"}, {0x20, "URG"}, {0x40, "ECE"}, {0x80, "CWR"}}

func decodeTCP(b []byte, s *Summary) []string {
	s.Proto = "tcp"
	if len(b) < 20 {
		return []string{"TCP, truncated"}
	}
	s.SrcPort, s.DstPort, s.Ports = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]), true
	off := int(b[12]>>4) * 4
	if off < 20 || off > len(b) {
		return []string{fmt.Sprintf("TCP %d → %d, bad data offset %d", s.SrcPort, s.DstPort, off)}
	}
	var fl []string
	for _, f := range flagNames {
		if b[13]&f.bit != 0 {
			fl = append(fl, f.name)
		}
	}
	line := fmt.Sprintf("TCP %d → %d [%s] seq %d", s.SrcPort, s.DstPort, strings.Join(fl, " "), binary.BigEndian.Uint32(b[4:8]))
	if b[13]&0x10 != 0 {
		line += fmt.Sprintf(" ack %d", binary.BigEndian.Uint32(b[8:12]))
	}
	line += fmt.Sprintf(" window %d", binary.BigEndian.Uint16(b[14:16]))
	if n := len(b) - off; n > 0 {
		line += fmt.Sprintf(", %d bytes of data", n)
	}
	if o := tcpOptions(b[20:off]); o != "" {
		line += ", options " + o
	}
	if t := firstLine(b[off:]); t != "" {
		return []string{line, "data: " + t}
	}
	return []string{line}
}

func tcpOptions(b []byte) string {
	var out []string
	for len(b) > 0 {
		k := b[0]
		if k == 0 {
			break
		}
		if k == 1 {
			b = b[1:]
			continue
		}
		if len(b) < 2 || int(b[1]) < 2 || int(b[1]) > len(b) {
			out = append(out, "malformed")
			break
		}
		v := b[2:b[1]]
		switch {
		case k == 2 && len(v) == 2:
			out = append(out, fmt.Sprintf("mss %d", binary.BigEndian.Uint16(v)))
		case k == 3 && len(v) == 1:
			out = append(out, fmt.Sprintf("wscale %d", v[0]))
		case k == 4:
			out = append(out, "sackOK")
		case k == 5 && len(v)%8 == 0:
			for i := 0; i < len(v); i += 8 {
				out = append(out, fmt.Sprintf("sack %d-%d", binary.BigEndian.Uint32(v[i:]), binary.BigEndian.Uint32(v[i+4:])))
			}
		case k == 8 && len(v) == 8:
			out = append(out, fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:])))
		default:
			out = append(out, fmt.Sprintf("option %d", k))
		}
		b = b[b[1]:]
	}
	return strings.Join(out, ", ")
}

// firstLine returns the data's first line quoted when it is printable
// text ("GET / HTTP/1.1"), at most 60 characters; else "".
func firstLine(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	n := 0
	for n < len(b) && n < 60 && b[n] != '\r' && b[n] != '\n' {
		if b[n] < 0x20 || b[n] > 0x7e {
			return ""
		}
		n++
	}
	if n == 0 {
		return ""
	}
	q := strconv.Quote(string(b[:n]))
	if n < len(b) && b[n] != '\r' && b[n] != '\n' {
		q += "…"
	}
	return q
}
