package arp_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

func TestParseStatic(t *testing.T) {
	ip, mac, err := arp.ParseStatic("10.0.0.1=02:00:00:00:00:01")
	if err != nil || ip != peerIP || mac != peerMAC {
		t.Fatalf("ParseStatic = %v %v %v", ip, mac, err)
	}
	for _, bad := range []string{"10.0.0.1", "10.0.0.1=", "x=02:00:00:00:00:01", "224.0.0.1=02:00:00:00:00:01",
		"10.0.0.1=ff:ff:ff:ff:ff:ff", "10.0.0.1=00:00:00:00:00:00", "10.0.0.1=02:00", "::1=02:00:00:00:00:01"} {
		if _, _, err := arp.ParseStatic(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseStatic(%q) = %v, want an error naming the input", bad, err)
		}
	}
}

func TestParsePublished(t *testing.T) {
	for _, tt := range []struct {
		in   string
		p    netip.Prefix
		mac  stack.MAC
		fail bool
	}{
		{"10.0.0.50", netip.MustParsePrefix("10.0.0.50/32"), stack.MAC{}, false},
		{"10.0.0.50=02:00:00:00:00:03", netip.MustParsePrefix("10.0.0.50/32"), otherMAC, false},
		{"10.0.0.130/25", netip.MustParsePrefix("10.0.0.128/25"), stack.MAC{}, false},
		{"10.0.0.0/24=02:00:00:00:00:03", netip.MustParsePrefix("10.0.0.0/24"), otherMAC, false},
		{"10.0.0.0/33", netip.Prefix{}, stack.MAC{}, true},
		{"10.0.0.1=01:00:5e:00:00:01", netip.Prefix{}, stack.MAC{}, true},
		{"fe80::/64", netip.Prefix{}, stack.MAC{}, true},
	} {
		p, mac, err := arp.ParsePublished(tt.in)
		if tt.fail != (err != nil) || p != tt.p || mac != tt.mac {
			t.Errorf("ParsePublished(%q) = %v %v %v", tt.in, p, mac, err)
		}
	}
}

func FuzzParseSpecs(f *testing.F) {
	f.Add("10.0.0.1=02:00:00:00:00:01")
	f.Add("10.0.0.0/24=02:00:00:00:00:03")
	f.Add("10.0.0.50")
	f.Fuzz(func(t *testing.T, s string) {
		if ip, mac, err := arp.ParseStatic(s); err == nil {
			if !ip.Is4() || mac.IsZero() || mac.IsMulticast() {
				t.Fatalf("ParseStatic(%q) = %v %v", s, ip, mac)
			}
		} else if strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
		if p, mac, err := arp.ParsePublished(s); err == nil {
			if !p.Addr().Is4() || p != p.Masked() || mac.IsMulticast() {
				t.Fatalf("ParsePublished(%q) = %v %v", s, p, mac)
			}
		}
	})
}
