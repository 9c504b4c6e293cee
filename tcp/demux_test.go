package tcp

import (
	"net/netip"
	"testing"
)

// TestConnKeyDistinct checks that the demux key tells apart every pair of
// tuples that are different connections (RFC 9293 3.1: a connection is
// named by its pair of sockets) and only those.
func TestConnKeyDistinct(t *testing.T) {
	ap := netip.MustParseAddrPort
	base := tuple{ap("10.0.0.2:80"), ap("10.0.0.1:40000")}
	tests := []struct {
		name  string
		other tuple
		same  bool
	}{
		{"same tuple", tuple{ap("10.0.0.2:80"), ap("10.0.0.1:40000")}, true},
		{"other remote port", tuple{ap("10.0.0.2:80"), ap("10.0.0.1:40001")}, false},
		{"other local port", tuple{ap("10.0.0.2:81"), ap("10.0.0.1:40000")}, false},
		{"ports swapped", tuple{ap("10.0.0.2:40000"), ap("10.0.0.1:80")}, false},
		{"addresses swapped", tuple{ap("10.0.0.1:80"), ap("10.0.0.2:40000")}, false},
		{"other remote address", tuple{ap("10.0.0.2:80"), ap("10.0.0.3:40000")}, false},
		{"IPv4-mapped IPv6 is another family", tuple{ap("[::ffff:10.0.0.2]:80"), ap("[::ffff:10.0.0.1]:40000")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := base.key() == tt.other.key(); got != tt.same {
				t.Errorf("key(%v) == key(%v) is %v, want %v", base, tt.other, got, tt.same)
			}
		})
	}
	a := tuple{ap("[fe80::2]:80"), ap("[fe80::1]:40000")}
	b := tuple{netip.AddrPortFrom(a.local.Addr().WithZone("tap0"), 80), netip.AddrPortFrom(a.remote.Addr().WithZone("tap0"), 40000)}
	if a.key() != b.key() {
		t.Errorf("the zone changed the key: the demux strips it from arriving segments")
	}
}
