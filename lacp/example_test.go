package lacp_test

import (
	"fmt"
	"time"

	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/stack"
)

// Example runs two LACP actors with one port each, wired back to back:
// the caller passes the time in, delivers the LACPDUs each Tick asks to
// send, and reads the ports' states.
func Example() {
	a := lacp.NewSystem(lacp.Config{System: stack.MAC{2, 0, 0, 0, 0, 1}, Fast: true})
	b := lacp.NewSystem(lacp.Config{System: stack.MAC{2, 0, 0, 0, 0, 2}, Fast: true})
	pa, pb := a.AddPort(1), b.AddPort(1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.SetEnabled(now, pa, true)
	b.SetEnabled(now, pb, true)
	for range 50 { // five seconds in 100 ms steps
		now = now.Add(100 * time.Millisecond)
		for _, tx := range a.Tick(now, nil) {
			b.Receive(now, pb, tx.PDU)
		}
		for _, tx := range b.Tick(now, nil) {
			a.Receive(now, pa, tx.PDU)
		}
	}
	fmt.Println(pa.MuxState(), pa.Distributing(), pa.Partner().System)
	// Output: COLLECTING_DISTRIBUTING true 02:00:00:00:00:02
}
