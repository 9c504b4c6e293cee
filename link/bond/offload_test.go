package bond

import (
	"testing"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// offloadEnd is a wire end that claims offloads.
type offloadEnd struct {
	*wireEnd
	gso  int
	csum bool
}

func (e offloadEnd) GSOMaxSize() int       { return e.gso }
func (e offloadEnd) ChecksumOffload() bool { return e.csum }

// TestBondOffloadsAreWhatEverySlaveDoes: a frame may leave on any slave
// (a flow moves at each failover), so the bond offers a capability only
// when every slave has it, segmentation only with checksum offload, up
// to the smallest GSOMaxSize; an Ethernet endpoint on the bond, and so
// a NIC and a route, see exactly that.
func TestBondOffloadsAreWhatEverySlaveDoes(t *testing.T) {
	tso := func(g int) link.Device { a, _ := newWire(); return offloadEnd{a, g, true} }
	csumOnly := func() link.Device { a, _ := newWire(); return offloadEnd{a, 0, true} }
	plain := func() link.Device { a, _ := newWire(); return a }
	gsoNoCsum := func() link.Device { a, _ := newWire(); return offloadEnd{a, 65535, false} }
	tests := []struct {
		name   string
		slaves []link.Device
		gso    int
		csum   bool
	}{
		{"every slave segments: the smallest GSOMaxSize", []link.Device{tso(65535), tso(32768)}, 32768, true},
		{"one slave without offloads: none", []link.Device{tso(65535), plain()}, 0, false},
		{"one slave without offloads first: none", []link.Device{plain(), tso(65535)}, 0, false},
		{"one slave checksums only: checksum offload, no TSO", []link.Device{tso(65535), csumOnly()}, 0, true},
		{"segmentation without checksum offload is none", []link.Device{gsoNoCsum(), gsoNoCsum()}, 0, false},
		{"a single slave passes its own on", []link.Device{tso(65535)}, 65535, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scs []SlaveConfig
			for i, d := range tt.slaves {
				scs = append(scs, SlaveConfig{Name: string(rune('a' + i)), Dev: d})
			}
			b, err := New(Config{Name: "bond0", MAC: stack.MAC{2, 0, 0, 0, 0, 1}}, scs)
			if err != nil {
				t.Fatal(err)
			}
			if g, c := b.GSOMaxSize(), b.ChecksumOffload(); g != tt.gso || c != tt.csum {
				t.Errorf("bond offloads (%d, %v), want (%d, %v)", g, c, tt.gso, tt.csum)
			}
			var o stack.Offloader = link.NewEthernet(b, stack.MAC{2, 0, 0, 0, 0, 1})
			if g, c := o.GSOMaxSize(), o.ChecksumOffload(); g != tt.gso || c != tt.csum {
				t.Errorf("Ethernet on the bond offloads (%d, %v), want (%d, %v)", g, c, tt.gso, tt.csum)
			}
		})
	}
}
