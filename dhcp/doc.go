// Package dhcp is tapstack's DHCP client (RFC 2131, options from RFC 2132):
// the wire format (Message, Fields), a sans-IO state machine (Machine) that
// is driven by (now, event) and says what to send and when to configure or
// deconfigure an address, and Client, the runner that drives the machine
// over a stack's UDP port 68.
//
// A host that gets its address from the network:
//
//	c := dhcp.New(s, nic, dhcp.Options{Hostname: "vm1", Probe: arpProto.Probe})
//	go c.Run(ctx)                 // cancel ctx to release the lease and stop
//	lease, err := c.WaitBound(ctx) // the first lease
//
// On binding, the client adds the leased address to the NIC and a default
// route through the router; on expiry, NAK or release it removes them.
//
// Before it has an address the client sends from 0.0.0.0:68 to
// 255.255.255.255:67 with the BROADCAST flag set, so that servers broadcast
// their answers (our IP layer drops unicast to an address it does not have
// yet). Renewals are unicast to the server from the leased address;
// rebinding broadcasts again.
//
// Replies are checked against the server identifier (option 54) in every
// state: the selected server's while requesting, the lease's server's
// while renewing and for a NAK while rebinding, any server's ACK while
// rebinding (that server becomes the lease's). Every reply the client does
// not act on is counted by reason: dhcp.rx.malformed, dhcp.rx.not_ours,
// dhcp.rx.unexpected, dhcp.rx.wrong_server, dhcp.rx.bad_address.
package dhcp
