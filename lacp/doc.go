// Package lacp is the Link Aggregation Control Protocol of IEEE 802.1AX
// (formerly 802.3ad): the LACPDU and Marker PDU wire formats of the Slow
// Protocols (EtherType 0x8809, destination 01:80:c2:00:00:02), and the
// protocol machines of one aggregation system (receive, periodic
// transmission, selection, mux with coupled control, transmission, the
// marker responder) as a sans-IO core: the caller passes in the time and
// the PDUs received and sends the PDUs the core asks for, so every rule
// is a table test on a virtual clock.
package lacp
