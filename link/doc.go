// Package link is tapstack's link layer: the Ethernet II and IEEE 802.1Q
// wire formats, the Ethernet endpoint that turns a raw frame Device into a
// stack.LinkEndpoint, and devices for tests (an in-memory Pipe).
//
// A Device moves whole Ethernet frames (a TAP, a pipe, a decorator around
// either). NewEthernet wraps a Device: outbound it prepends the Ethernet
// header to network packets, inbound it validates and filters frames and
// hands the network packet to the NIC.
package link
