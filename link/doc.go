// Package link is tapstack's link layer: the Ethernet II and IEEE 802.1Q
// wire formats, the Ethernet endpoint that turns a raw frame Device into a
// stack.LinkEndpoint, the Trunk that splits one Device into VLAN
// sub-interfaces, and devices for tests (an in-memory Pipe).
//
// A Device moves whole Ethernet frames (a TAP, a pipe, a decorator around
// either). NewEthernet wraps a Device for untagged traffic: outbound it
// prepends the Ethernet header to network packets, inbound it validates and
// filters frames and hands the network packet to the NIC (it takes
// priority-tagged frames, VID 0, as untagged, like Linux, and counts and
// drops frames tagged with a VLAN ID). NewTrunk wraps a Device as an
// 802.1Q trunk port:
// each VLAN, and optionally the untagged native VLAN, becomes its own link
// endpoint and so its own NIC.
//
// Decorators wrap a Device: NewCapture writes a pcap stream of both
// directions; NewFaulty injects seeded faults per direction (loss,
// duplication, reordering, corruption of IPv4 frames where a checksum can
// catch it, delay with jitter, and a rate limit with a bounded queue), as
// ParseFaults reads them from a string like "loss=2%,delay=1ms,rate=100mbit".
package link
