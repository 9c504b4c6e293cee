package bond_test

import (
	"fmt"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/link/bond"
	"github.com/tapstack/tapstack/stack"
)

// Example builds an active-backup bond over two in-memory links and
// puts an Ethernet endpoint on it, as a TAP would take one.
func Example() {
	a0, b0 := link.Pipe(1500)
	a1, b1 := link.Pipe(1500)
	defer b0.Close()
	defer b1.Close()
	mac := stack.MAC{2, 0, 0, 0, 0, 0xa}
	b, err := bond.New(bond.Config{Name: "bond0", MAC: mac, Mode: bond.ActiveBackup, Primary: "ta0"},
		[]bond.SlaveConfig{{Name: "ta0", Dev: a0}, {Name: "ta1", Dev: a1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	eth := link.NewEthernet(b, mac) // hand eth to stack.AddNIC or host.Interface{Device: b}
	b.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) { p.Release() }))
	defer b.Close()
	st := b.Status()
	fmt.Println(st.Mode, "active", st.Active, "mtu", eth.MTU())
	// Output: active-backup active ta0 mtu 1500
}
