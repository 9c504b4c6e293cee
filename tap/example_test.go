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

// Open a TUN (an L3 device: bare IP packets, offloads on) and make it the
// NIC of a stack; the kernel side gets its address and routes with `ip`.
func ExampleOpen_tun() {
	dev, err := tap.Open(tap.Config{Name: "tun0", Mode: tap.TUN})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tapstack:", err)
		os.Exit(1)
	}
	s := stack.New(stack.Options{})
	defer s.Close()                               // closes the TUN too
	nic, err := s.AddNIC("tun0", link.NewL3(dev)) // no MAC, no ARP
	if err != nil {
		fmt.Fprintln(os.Stderr, "tapstack:", err)
		return
	}
	fmt.Println(nic.IsL3(), dev.Mode())
}
