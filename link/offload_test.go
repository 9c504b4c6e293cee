package link

import (
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// offloadDev is a Pipe end that claims offloads.
type offloadDev struct {
	Device
	gso  int
	csum bool
}

func (d offloadDev) GSOMaxSize() int       { return d.gso }
func (d offloadDev) ChecksumOffload() bool { return d.csum }

func TestEthernetOffloader(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	defer b.Close()
	tests := []struct {
		name string
		dev  Device
		gso  int
		csum bool
	}{
		{"plain device", a, 0, false},
		{"offload device", offloadDev{Device: b, gso: 65535, csum: true}, 65535, true},
		{"checksum only", offloadDev{Device: b, csum: true}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o stack.Offloader = NewEthernet(tt.dev, stack.MAC{2, 0, 0, 0, 0, 1})
			if got := o.GSOMaxSize(); got != tt.gso {
				t.Errorf("GSOMaxSize = %d, want %d", got, tt.gso)
			}
			if got := o.ChecksumOffload(); got != tt.csum {
				t.Errorf("ChecksumOffload = %v, want %v", got, tt.csum)
			}
		})
	}
}

// TestTrunkPortOffloader: a VLAN port and the native port of a trunk
// offload what the trunk's device does (the device finds the IP header
// behind the tag), so TCP over a VLAN sends super-segments where the TAP
// under it can; a decorator under the trunk hides the capability.
func TestTrunkPortOffloader(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	defer b.Close()
	tests := []struct {
		name string
		dev  Device
		gso  int
		csum bool
	}{
		{"plain device", a, 0, false},
		{"offload device", offloadDev{Device: b, gso: 65535, csum: true}, 65535, true},
		{"checksum only", offloadDev{Device: b, csum: true}, 0, true},
		{"behind a fault decorator", NewFaulty(offloadDev{Device: b, gso: 65535, csum: true}, FaultConfig{}), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTrunk(tt.dev, stack.MAC{2, 0, 0, 0, 0, 1})
			v10, err := tr.VLAN(10, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, ep := range []stack.LinkEndpoint{v10, tr.Native()} {
				o, ok := ep.(stack.Offloader)
				if !ok {
					t.Fatalf("%T is not a stack.Offloader", ep)
				}
				if g, c := o.GSOMaxSize(), o.ChecksumOffload(); g != tt.gso || c != tt.csum {
					t.Errorf("port %d offloads (%d, %v), want (%d, %v)", ep.(*TrunkPort).VID(), g, c, tt.gso, tt.csum)
				}
			}
		})
	}
}
