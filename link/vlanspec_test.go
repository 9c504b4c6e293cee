package link

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseVLANSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    VLANSpec
		wantErr string
	}{
		{"10:10.0.10.2/24", VLANSpec{VID: 10, Addr: netip.MustParsePrefix("10.0.10.2/24")}, ""},
		{"4094:192.168.1.1/30:7", VLANSpec{VID: 4094, PCP: 7, Addr: netip.MustParsePrefix("192.168.1.1/30")}, ""},
		{"1:10.0.0.1/8:0", VLANSpec{VID: 1, Addr: netip.MustParsePrefix("10.0.0.1/8")}, ""},
		{"10", VLANSpec{}, "want VID:ADDRESS/LEN"},
		{"0:10.0.0.1/24", VLANSpec{}, "VLAN ID \"0\""},
		{"4095:10.0.0.1/24", VLANSpec{}, "VLAN ID \"4095\""},
		{"x:10.0.0.1/24", VLANSpec{}, "VLAN ID \"x\""},
		{"10:10.0.0.1", VLANSpec{}, "not an IPv4 address with prefix"},
		{"10:fe80::1/64", VLANSpec{}, "want VID:ADDRESS/LEN"}, // IPv6 is not supported
		{"10:10.0.0.1/24:8", VLANSpec{}, "priority \"8\""},
		{"10:10.0.0.1/24:1:2", VLANSpec{}, "want VID:ADDRESS/LEN"},
	}
	for _, tt := range tests {
		got, err := ParseVLANSpec(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseVLANSpec(%q) = %v, want an error with %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseVLANSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, err := ParseVLANSpec(got.String()); err != nil || back != got {
			t.Errorf("round trip of %+v via %q: %+v, %v", got, got.String(), back, err)
		}
	}
	if n := VLANName("tap0", 10); n != "tap0.10" {
		t.Errorf("VLANName = %q", n)
	}
}

func FuzzParseVLANSpec(f *testing.F) {
	f.Add("10:10.0.10.2/24")
	f.Add("4094:192.168.1.1/30:7")
	f.Add("10:fe80::1/64")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVLANSpec(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if v.VID < MinVID || v.VID > MaxVID || v.PCP > 7 || !v.Addr.Addr().Is4() {
			t.Fatalf("ParseVLANSpec(%q) = %+v", s, v)
		}
		if back, err := ParseVLANSpec(v.String()); err != nil || back != v {
			t.Fatalf("round trip of %+v: %+v, %v", v, back, err)
		}
	})
}
