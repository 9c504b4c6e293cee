package stack

// Offloads is what the NIC's link endpoint does for outbound packets:
// the largest TCP packet (IP header included) it segments (0: none) and
// whether it completes transport checksums of packets marked
// ChecksumPartial. An endpoint declares them by implementing Offloader;
// wrappers (a VLAN port, a bond under an Ethernet endpoint) pass on the
// capability of the devices under them, so every layer asks here and
// none type-asserts the endpoint itself.
func (n *NIC) Offloads() (gsoMax int, csum bool) {
	if o, ok := n.ep.(Offloader); ok {
		return o.GSOMaxSize(), o.ChecksumOffload()
	}
	return 0, false
}

// Offloads is what the route's device does for packets sent along it
// (see NIC.Offloads); a local route (loopback) offloads nothing.
func (r *Route) Offloads() (gsoMax int, csum bool) {
	if r.Local || r.NIC == nil {
		return 0, false
	}
	return r.NIC.Offloads()
}
