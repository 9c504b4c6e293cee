package tap_test

import (
	"fmt"
	"os"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// Open a TAP in a bridge and make it the NIC of a stack. Errors are one
// line an operator can act on.
func ExampleOpen() {
	dev, err := tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tapstack:", err) // e.g. bridge "br0" does not exist (create it: ...)
		os.Exit(1)
	}
	s := stack.New(stack.Options{})
	defer s.Close() // closes the TAP too
	mac, _ := stack.ParseMAC("02:00:00:00:00:02")
	if _, err := s.AddNIC("eth0", link.NewEthernet(dev, mac)); err != nil {
		fmt.Fprintln(os.Stderr, "tapstack:", err)
	}
}
