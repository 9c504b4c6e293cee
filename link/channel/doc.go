// Package channel is an in-memory L3 link: a stack.LinkEndpoint whose
// "wire" is a pair of Go calls carrying bare IP packets, with no kernel
// device and no root. It is how a VPN written in Go (a wireguard-go style
// tunnel, a tun2socks proxy, a test harness) embeds tapstack: the VPN
// reads the packets the stack sends with Read and hands the stack the
// packets it received with Write, many per call.
//
//	ch, _ := channel.New(channel.Config{MTU: 1420})
//	h, _ := host.New(host.Config{Interfaces: []host.Interface{{Endpoint: ch, Addr: addr}}})
//	go func() { // stack -> tunnel
//		for {
//			n, err := ch.Read(bufs, sizes, 0)
//			if err != nil {
//				return // channel.ErrClosed after h.Close
//			}
//			tunnel.Send(bufs[:n], sizes[:n])
//		}
//	}()
//	ch.Write(packetsFromTunnel, 0) // tunnel -> stack
//
// Read and Write are shaped like wireguard-go's tun.Device (bufs, sizes and
// offset: the packet starts offset bytes into each buffer, leaving room for
// a tunnel header), so an adapter to that interface is a few lines.
//
// The endpoint is L3 (stack.L3Link): the NIC on it never resolves
// neighbours and takes each inbound packet's family from its version
// nibble; no ARP or NDP runs on it.
//
// Inbound (Write) packets are copied into pooled stack packets and handed
// to the stack inline, on the caller's goroutine, as a TAP reader does:
// Write returns when the stack has processed them (queued data for a
// socket, sent an ACK). Write may be called from several goroutines at
// once. Packets that are not IPv4 or IPv6, or longer than the MTU, are
// counted and dropped.
//
// Outbound packets wait in a bounded queue (Config.QueueLen) until Read
// takes them. A full queue drops the packet, counts it
// (CounterTxQueueFull) and tells the sender stack.ErrNoBufferSpace, like
// the transmit ring of a real device: the stack never blocks on a slow
// reader, and TCP treats the drop as congestion. Read blocks until at
// least one packet is queued or the channel is closed; Close (which
// stack.Stack.Close calls) unblocks it.
//
// The name follows gVisor's link/channel, which wireguard-go's netstack
// uses for the same job; this one is L3 and batched.
package channel
