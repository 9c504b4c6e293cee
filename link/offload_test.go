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
