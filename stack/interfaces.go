package stack

import "net/netip"

// EtherTypes of the network protocols the stack knows.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeQinQ uint16 = 0x88a8
)

// IP protocol numbers of the transports the stack knows.
const (
	ProtocolICMP   uint8 = 1
	ProtocolIGMP   uint8 = 2
	ProtocolTCP    uint8 = 6
	ProtocolUDP    uint8 = 17
	ProtocolICMPv6 uint8 = 58
)

// LinkEndpoint is an interface's link layer as a NIC sees it: it frames
// network packets for a link address and hands inbound network packets up.
// link.Ethernet implements it over a raw frame device such as a TAP.
type LinkEndpoint interface {
	// MTU is the largest network-layer packet the link carries.
	MTU() int
	// LinkAddress is the endpoint's own hardware address.
	LinkAddress() MAC
	// WritePacket frames p (whose data starts at the network header) for
	// dst with the given EtherType and sends it. It takes ownership of p
	// whatever it returns.
	WritePacket(dst MAC, etherType uint16, p *Packet) error
	// Attach starts delivering inbound packets to d; it is called once.
	Attach(d NetworkDispatcher)
	// Close stops delivery and releases the device; it returns only when
	// no goroutine of the endpoint is left running.
	Close() error
}

// Offloader is implemented by link endpoints whose device segments and
// checksums for us (a TAP with a virtio-net header).
type Offloader interface {
	// GSOMaxSize is the largest TCP packet (IP header included) the device
	// accepts for segmentation, or 0 when it does not segment.
	GSOMaxSize() int
	// ChecksumOffload reports whether the device completes transport
	// checksums of outbound packets marked ChecksumPartial.
	ChecksumOffload() bool
}

// NetworkDispatcher receives inbound packets from a LinkEndpoint.
type NetworkDispatcher interface {
	// DeliverNetworkPacket takes ownership of p. p.LinkSrc, p.LinkDst and
	// p.EtherType are set and p's data starts at the network header.
	DeliverNetworkPacket(p *Packet)
}

// BatchEnder is implemented by whatever can defer work while packets
// arrive in a batch. A device that reads several packets in a row (a TAP
// reading until it has nothing more) marks each one Batched and, after the
// last of a batch and before it waits for more, calls EndBatch on its
// dispatcher; the link endpoint passes the call to its NIC, the NIC to the
// stack and the stack to every transport that implements BatchEnder. TCP
// sends then one ACK for all the data a connection received in the batch,
// instead of one per segment (tcp/batch.go).
type BatchEnder interface {
	// EndBatch does the work deferred while the batch was delivered, and
	// reports whether that sent packets (an answer to them may be on its
	// way back: the device had better read again before it waits). It
	// may be called from several device goroutines at once.
	EndBatch() bool
}

// NetworkProtocol handles one EtherType (IPv4, ARP, IPv6).
type NetworkProtocol interface {
	// EtherType is the protocol's number on the link.
	EtherType() uint16
	// HandlePacket processes an inbound packet whose data starts at the
	// network header; p.NIC is set. It takes ownership of p.
	HandlePacket(p *Packet)
}

// LinkResolver maps next-hop network addresses to link addresses: ARP for
// IPv4, Neighbour Discovery for IPv6 (see Stack.SetResolver).
type LinkResolver interface {
	// WriteTo sends p (a network packet of the given EtherType) to the link
	// address of nextHop on nic, resolving it first if needed; while it
	// resolves, p waits in a bounded per-next-hop queue. It takes ownership
	// of p. When resolution finally fails, each waiting packet is handed to
	// Stack.ResolutionFailed.
	WriteTo(nic *NIC, nextHop netip.Addr, etherType uint16, p *Packet) error
}

// ResolutionFailureHandler is implemented by network protocols that react to
// a packet whose next hop could not be resolved (IPv4 answers with ICMP host
// unreachable).
type ResolutionFailureHandler interface {
	// HandleResolutionFailure takes ownership of p, a packet that could
	// not be sent because nextHop did not answer.
	HandleResolutionFailure(nic *NIC, nextHop netip.Addr, p *Packet)
}

// AddressObserver is implemented by network protocols, and by observers
// given to Stack.AddObserver, that act when an address is added to a NIC (a
// gratuitous ARP, joining an IPv6 solicited-node group, for instance).
type AddressObserver interface {
	// AddressAdded is called after addr was added to nic.
	AddressAdded(nic *NIC, addr netip.Prefix)
}

// AddressRemovalObserver is implemented by observers that act when an
// address leaves a NIC.
type AddressRemovalObserver interface {
	// AddressRemoved is called after addr was removed from nic.
	AddressRemoved(nic *NIC, addr netip.Prefix)
}

// GroupObserver is implemented by observers (IGMP, MLD) that report a NIC's
// multicast group memberships to the routers and snooping bridges of its
// link.
type GroupObserver interface {
	// GroupJoined is called when nic joins group (its first member).
	GroupJoined(nic *NIC, group netip.Addr)
	// GroupLeft is called when the last member of group on nic leaves.
	GroupLeft(nic *NIC, group netip.Addr)
}

// ICMPv6Handler handles inbound ICMPv6 messages of the types it is
// registered for with Stack.SetICMPv6Handler (Neighbour Discovery, MLD).
type ICMPv6Handler interface {
	// HandleICMPv6 takes ownership of p, whose data starts at the ICMPv6
	// header. The IPv6 layer has verified the checksum and set p.NIC,
	// p.Src, p.Dst and p.TTL (the hop limit).
	HandleICMPv6(p *Packet)
}

// NetworkParams are the IP header fields a transport chooses per packet.
type NetworkParams struct {
	// Protocol is the IP protocol number.
	Protocol uint8
	// TTL is the time to live (IPv6: the hop limit); zero means the
	// default, 64.
	TTL uint8
	// TOS is the type-of-service byte (DSCP and ECN).
	TOS uint8
	// DontFragment sets DF. IPv6 never fragments in routers; there it
	// forbids fragmenting at the source too.
	DontFragment bool
}

// IPWriter is the send side of the IP layer as transports use it through a
// Route. ipv4 and ipv6 implement it; a Route picks the one of its
// RemoteAddr's family.
type IPWriter interface {
	// WritePacket prepends an IP header to p (whose data starts at the
	// transport header) and sends it along r. It takes ownership of p.
	WritePacket(r *Route, params NetworkParams, p *Packet) error
}

// TransportProtocol handles one IP protocol number (TCP, UDP).
type TransportProtocol interface {
	// Number is the IP protocol number.
	Number() uint8
	// HandlePacket processes an inbound packet whose data starts at the
	// transport header; p.NIC, p.Src, p.Dst are set. It returns false when
	// no endpoint wants the packet and the network layer should answer
	// port unreachable; then the caller keeps ownership of p. Otherwise it
	// takes ownership.
	HandlePacket(p *Packet) bool
	// HandleError delivers an ICMP error, or a local failure to resolve the
	// next hop, about a packet this protocol sent.
	HandleError(e TransportError)
}

// ErrorKind classifies a TransportError.
type ErrorKind uint8

// The kinds of TransportError.
const (
	ErrorNetUnreachable ErrorKind = iota + 1
	ErrorHostUnreachable
	ErrorProtocolUnreachable
	ErrorPortUnreachable
	ErrorFragmentationNeeded // IPv4 fragmentation needed, IPv6 packet too big
	ErrorTimeExceeded
	ErrorParameterProblem
	ErrorAdministrativelyProhibited
)

// TransportError is an ICMP error (or local equivalent) about a packet that
// Src (one of our addresses) sent to Dst.
type TransportError struct {
	Kind ErrorKind
	// Type and Code are the ICMP type and code, zero for local errors.
	Type, Code uint8
	// MTU is the next-hop MTU of a fragmentation-needed error.
	MTU int
	// Src and Dst are the addresses of the original packet.
	Src, Dst netip.Addr
	// Transport is the quoted start of the original transport header (at
	// least 8 bytes: ports and, for TCP, the sequence number). It is valid
	// only during the call.
	Transport []byte
}
