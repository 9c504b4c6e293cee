package stack

import "testing"

// offloadLink is a nullLink that segments and checksums.
type offloadLink struct{ nullLink }

func (offloadLink) GSOMaxSize() int       { return 65535 }
func (offloadLink) ChecksumOffload() bool { return true }

// TestRouteOffloads: the route answers what its NIC's endpoint offloads
// (stack.Offloader), nothing for an endpoint without the capability, and
// nothing for a local route, whose packets are looped back and never
// meet a device.
func TestRouteOffloads(t *testing.T) {
	s := New(Options{})
	tso, _ := s.AddNIC("tso0", offloadLink{nullLink{1500}})
	plain, _ := s.AddNIC("eth0", nullLink{1500})
	if err := tso.AddAddress(mustPrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	if err := plain.AddAddress(mustPrefix("10.0.1.2/24")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dst, src string
		gso      int
		csum     bool
	}{
		{"10.0.0.9", "10.0.0.2", 65535, true},
		{"10.0.1.9", "10.0.1.2", 0, false},
		{"10.0.0.2", "10.0.0.2", 0, false}, // local
	}
	for _, tt := range tests {
		r, err := s.FindRoute(mustAddr(tt.dst), mustAddr(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		if g, c := r.Offloads(); g != tt.gso || c != tt.csum {
			t.Errorf("route to %s offloads (%d, %v), want (%d, %v)", tt.dst, g, c, tt.gso, tt.csum)
		}
	}
	if g, c := tso.Offloads(); g != 65535 || !c {
		t.Errorf("NIC offloads (%d, %v)", g, c)
	}
}
