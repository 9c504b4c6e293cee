package trace

import (
	"net/netip"
	"testing"
)

func TestParseFilterTable(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	http := &Summary{Proto: "tcp", Src: a, Dst: b, SrcPort: 40000, DstPort: 80, Ports: true}
	dns := &Summary{Proto: "udp", Src: b, Dst: a, SrcPort: 53, DstPort: 5353, Ports: true, VLAN: 10}
	arp := &Summary{Proto: "arp", Src: a, Dst: b}
	x, y := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	ns := &Summary{Proto: "icmp6", Src: x, Dst: y, Resolution: true}
	for expr, want := range map[string]bool{"tcp port 80": true, "icmp6": true, "ip6": true, "ip": false,
		"not icmp6": false, "arp": false, "host fd00::1 and tcp": true, "host 10.0.0.1 and tcp": false} {
		f, err := ParseFilter(expr)
		if err != nil || f.Match(ns) != want {
			t.Errorf("%q on a neighbour solicitation: %v, want %v (%v)", expr, f.Match(ns), want, err)
		}
	}
	for _, c := range []struct {
		expr            string
		http, dns, arpm bool
	}{
		{"", true, true, true},
		{"tcp", true, false, true},
		{"tcp port 80", true, false, true},
		{"src host 10.0.0.1", true, false, true},
		{"dst host 10.0.0.1", false, true, false},
		{"dst port 80", true, false, true},
		{"src port 80", false, false, true},
		{"arp or udp", false, true, true},
		{"not arp", true, true, false},
		{"vlan 10", false, true, false},
		{"tcp and (port 53 or port 80)", true, false, true},
		{"host 10.0.0.1 and tcp port 80", true, false, true},
		{"host 10.0.0.9 and tcp port 80", false, false, false},
		{"! tcp && ! arp", false, true, false},
		{"ip", true, true, true},
		{"ip6", false, false, false},
	} {
		f, err := ParseFilter(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		if f.Match(http) != c.http || f.Match(dns) != c.dns || f.Match(arp) != c.arpm {
			t.Errorf("%q: http %v dns %v arp %v, want %v %v %v", c.expr, f.Match(http), f.Match(dns), f.Match(arp), c.http, c.dns, c.arpm)
		}
	}
	for _, bad := range []string{"port", "port x", "host 300.1.1.1", "vlan 0", "vlan 4095", "tcp and", "(tcp", "tcp )", "src tcp", "bogus"} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"tcp port 80", "host 10.0.0.1 and not (udp or arp)", "vlan 10", "((((", "not not not"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		flt.Match(&Summary{Proto: "tcp", Ports: true})
		if _, err := ParseFilter(flt.String()); err != nil {
			t.Fatalf("%q parsed, its String %q does not: %v", s, flt.String(), err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(uint16(0x0800), []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add(uint16(0x86dd), make([]byte, 48))
	f.Add(uint16(0x0806), make([]byte, 28))
	f.Fuzz(func(t *testing.T, et uint16, b []byte) {
		var s Summary
		decode(b, et, &s)
	})
}
