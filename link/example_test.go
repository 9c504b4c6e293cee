package link_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// Two Ethernet endpoints on the two ends of an in-memory wire, each the NIC
// of its own stack.
func ExampleNewEthernet() {
	a, b := link.Pipe(1500)
	macA, _ := stack.ParseMAC("02:00:00:00:00:0a")
	macB, _ := stack.ParseMAC("02:00:00:00:00:0b")

	s := stack.New(stack.Options{})
	defer s.Close()
	nic, err := s.AddNIC("eth0", link.NewEthernet(a, macA))
	if err != nil {
		panic(err)
	}
	_ = nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24"))

	// The far end: a bare endpoint that prints what arrives.
	got := make(chan string)
	far := link.NewEthernet(b, macB)
	far.Attach(printer(got))
	defer far.Close()

	// Send a (fake) IPv4 packet from the stack's NIC straight to macB.
	p := stack.NewPacketFrom([]byte("not really IPv4"))
	if err := nic.WriteLinkPacket(macB, stack.EtherTypeIPv4, p); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	// Output: 02:00:00:00:00:0a > 02:00:00:00:00:0b type 0x0800: "not really IPv4"
}

type printer chan string

func (c printer) DeliverNetworkPacket(p *stack.Packet) {
	c <- fmt.Sprintf("%v > %v type %#04x: %q", p.LinkSrc, p.LinkDst, p.EtherType, p.Bytes())
	p.Release()
}

// A Pipe is a wire: what one end writes, the other end's dispatcher gets,
// asynchronously.
func ExamplePipe() {
	a, b := link.Pipe(1500)
	defer a.Close()
	defer b.Close()

	got := make(chan int)
	b.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		got <- p.Len()
		p.Release()
	}))

	p := stack.NewPacket(stack.Headroom, 60)
	link.EthernetFields{Dst: stack.BroadcastMAC, EtherType: stack.EtherTypeARP}.Encode(p.Bytes())
	if err := a.WriteFrame(p); err != nil {
		panic(err)
	}
	fmt.Println("b received a frame of", <-got, "bytes")
	// Output: b received a frame of 60 bytes
}

// ParseFrame reads the link header of a possibly tagged frame.
func ExampleParseFrame() {
	b := make([]byte, 18+28)
	link.EthernetFields{Dst: stack.BroadcastMAC, Src: stack.MAC{2, 0, 0, 0, 0, 1}}.Encode(b)
	link.VLANFields{PCP: 3, VID: 42}.Encode(b[12:])
	b[16], b[17] = 0x08, 0x06 // ARP
	f, err := link.ParseFrame(b)
	if err != nil {
		panic(err)
	}
	fmt.Printf("vid %d pcp %d type %#04x payload at %d\n", f.Tags[0].VID, f.Tags[0].PCP, f.EtherType, f.HeaderLen)
	// Output: vid 42 pcp 3 type 0x0806 payload at 18
}

// A lossy, reordering wire for a simulation, reproducible by its seed.
func ExampleNewFaulty() {
	cfg, err := link.ParseFaults("loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,seed=7")
	if err != nil {
		panic(err)
	}
	a, b := link.Pipe(1500)
	lossy := link.NewFaulty(a, cfg)
	defer lossy.Close()
	defer b.Close()
	fmt.Printf("tx loss %.0f%%, rx corrupt %.1f%%\n", cfg.Tx.Loss*100, cfg.Rx.Corrupt*100)
	// Output: tx loss 2%, rx corrupt 0.1%
}

// A slow, long wire: 1 ms away at 8 Mbit/s. With a virtual clock the test
// decides when time passes; a 1000-byte frame arrives after 1 ms of
// transmission and 1 ms of delay.
func ExampleNewFaulty_delay() {
	cfg, err := link.ParseFaults("tx.delay=1ms,tx.rate=8mbit")
	if err != nil {
		panic(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := vclock.New(start)
	cfg.Clock = clk
	a, b := link.Pipe(1500)
	defer b.Close()
	arrived := make(chan time.Duration, 1)
	b.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		arrived <- clk.Now().Sub(start)
		p.Release()
	}))
	slow := link.NewFaulty(a, cfg)
	defer slow.Close()

	_ = slow.WriteFrame(stack.NewPacket(stack.Headroom, 1000))
	clk.RunNext() // the timer passes the frame on to the pipe
	fmt.Println("arrived after", <-arrived)
	// Output: arrived after 2ms
}

// ParseFaults explains what it cannot parse in one line.
func ExampleParseFaults() {
	_, err := link.ParseFaults("loss=2%,rate=100mbps")
	fmt.Println(err)
	// Output: fault rate=100mbps: want bits per second with a unit, like 100mbit (bit, kbit, mbit, gbit)
}

// Record both directions of a device to a pcap stream (tcpdump -r reads it).
func ExampleNewCapture() {
	var file bytes.Buffer // an *os.File in real use
	a, b := link.Pipe(1500)
	defer b.Close()
	captured, err := link.NewCapture(a, &file)
	if err != nil {
		panic(err)
	}
	defer captured.Close()
	p := stack.NewPacket(stack.Headroom, 60)
	link.EthernetFields{Dst: stack.BroadcastMAC, EtherType: stack.EtherTypeARP}.Encode(p.Bytes())
	_ = captured.WriteFrame(p)
	fmt.Println(file.Len(), "bytes: 24 of file header, 16 of record header, 60 of frame")
	// Output: 100 bytes: 24 of file header, 16 of record header, 60 of frame
}

// A trunk carries VLANs 10 and 20 on one device; each VLAN endpoint is its
// own NIC. Frames of VLAN 10 leave tagged with VID 10 and priority 5.
func ExampleNewTrunk() {
	a, b := link.Pipe(1500)
	mac, _ := stack.ParseMAC("02:00:00:00:00:0a")

	trunk := link.NewTrunk(a, mac)
	v10, err := trunk.VLAN(10, 5)
	if err != nil {
		panic(err)
	}
	v20, _ := trunk.VLAN(20, 0)

	s := stack.New(stack.Options{})
	defer s.Close()
	nic10, _ := s.AddNIC("eth0.10", v10)
	nic20, _ := s.AddNIC("eth0.20", v20)
	_ = nic10.AddAddress(netip.MustParsePrefix("10.0.10.2/24"))
	_ = nic20.AddAddress(netip.MustParsePrefix("10.0.20.2/24"))

	// The far end of the wire prints the tags of what arrives.
	got := make(chan string, 1)
	b.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		f, _ := link.ParseFrame(p.Bytes())
		if f.EtherType == stack.EtherTypeIPv4 {
			got <- fmt.Sprintf("VID %d PCP %d type %#04x, %d bytes", f.Tags[0].VID, f.Tags[0].PCP, f.EtherType, p.Len())
		}
		p.Release()
	}))
	defer b.Close()

	peer, _ := stack.ParseMAC("02:00:00:00:00:0b")
	_ = nic10.WriteLinkPacket(peer, stack.EtherTypeIPv4, stack.NewPacketFrom(make([]byte, 100)))
	fmt.Println(<-got)
	// Output: VID 10 PCP 5 type 0x0800, 118 bytes
}

// Offloads tells what a device segments and checksums for the stack; a
// NIC and a route answer the same through stack.NIC.Offloads and
// stack.Route.Offloads. An in-memory pipe does neither, and neither does
// a VLAN port of a trunk on it.
func ExampleOffloads() {
	a, b := link.Pipe(1500)
	defer b.Close()
	gso, csum := link.Offloads(a)
	v10, _ := link.NewTrunk(a, stack.MAC{2, 0, 0, 0, 0, 1}).VLAN(10, 0)
	o := v10.(stack.Offloader)
	fmt.Println(gso, csum, o.GSOMaxSize(), o.ChecksumOffload())
	a.Close()
	// Output: 0 false 0 false
}
