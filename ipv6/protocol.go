package ipv6

import (
	"time"

	"github.com/tapstack/tapstack/internal/gcra"
	"github.com/tapstack/tapstack/internal/loopq"
	"github.com/tapstack/tapstack/stack"
)

// DefaultHopLimit is the hop limit of packets we originate when neither
// Options nor the transport choose one (Linux net.ipv6.conf.*.hop_limit).
const DefaultHopLimit = 64

// DefaultMulticastHopLimit is the hop limit of packets to a multicast group
// whose transport does not set one (Linux IPV6_MULTICAST_HOPS default): they
// stay on the link unless asked otherwise.
const DefaultMulticastHopLimit = 1

// Options configure the IPv6 layer. The zero value gives Linux-like
// defaults.
type Options struct {
	// DefaultHopLimit is the hop limit of outbound packets whose
	// transport does not set one; 0 means 64.
	DefaultHopLimit uint8
	// Forwarding makes the stack a router (RFC 8200, RFC 4443): packets
	// not addressed to us are forwarded along the route table with their
	// hop limit decremented. The default (false) drops them, like Linux
	// with net.ipv6.conf.all.forwarding=0.
	Forwarding bool
	// ICMPErrorRate is how many ICMPv6 error messages per second we send
	// at most (token bucket refill); 0 means 1000, a negative value
	// disables rate limiting (RFC 4443 2.4 f).
	ICMPErrorRate int
	// ICMPErrorBurst is the token bucket depth; 0 means 50.
	ICMPErrorBurst int
	// LoopbackQueue bounds the packets waiting for delivery to our own
	// addresses; 0 means 1000.
	LoopbackQueue int
	// ReassemblyTimeout is how long the fragments of an incomplete
	// datagram are kept; 0 means 60s (RFC 8200 4.5, Linux ip6frag_time).
	ReassemblyTimeout time.Duration
	// ReassemblyMemory bounds the bytes held by all incomplete datagrams
	// (fragment data plus bookkeeping); over it the oldest are evicted.
	// 0 means 4 MiB (Linux ip6frag_high_thresh).
	ReassemblyMemory int
	// ReassemblyDatagrams bounds how many datagrams are reassembled at
	// once; 0 means 1024.
	ReassemblyDatagrams int
	// PathMTUEntries bounds the path-MTU cache; 0 means 1024.
	PathMTUEntries int
	// PathMTUTimeout is how long a learned path MTU holds (RFC 8201 4:
	// at least 5 minutes, 10 recommended); 0 means 10 minutes.
	PathMTUTimeout time.Duration
	// AcceptAnyDestination delivers unicast packets to addresses that
	// are not ours to the local transports (see
	// Protocol.SetAcceptAnyDestination).
	AcceptAnyDestination bool
}

// Defaults of Options.
const (
	DefaultReassemblyTimeout   = 60 * time.Second
	DefaultReassemblyMemory    = 4 << 20
	DefaultReassemblyDatagrams = 1024
	DefaultPathMTUEntries      = 1024
	DefaultPathMTUTimeout      = 10 * time.Minute
)

// Protocol is the IPv6 layer of one stack. It implements
// stack.NetworkProtocol (EtherType 0x86dd), stack.IPWriter,
// stack.ResolutionFailureHandler and io.Closer.
type Protocol struct {
	s    *stack.Stack
	opts Options
	c    counters

	ids   identifier
	errRL gcra.Limiter
	reasm reassembler
	pmtu  pmtuCache
	any   anyDst // anydst.go

	loop *loopq.Queue // loopback.go
}

var (
	_ stack.NetworkProtocol          = (*Protocol)(nil)
	_ stack.IPWriter                 = (*Protocol)(nil)
	_ stack.ResolutionFailureHandler = (*Protocol)(nil)
)

// Register creates the IPv6 layer and registers it with s as the network
// protocol for EtherType 0x86dd and as the IP layer transports send
// through for IPv6 destinations. It starts one goroutine (loopback
// delivery), ended by Close or by s.Close.
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	if opts.DefaultHopLimit == 0 {
		opts.DefaultHopLimit = DefaultHopLimit
	}
	if opts.ICMPErrorRate == 0 {
		opts.ICMPErrorRate = 1000
	}
	if opts.ICMPErrorBurst <= 0 {
		opts.ICMPErrorBurst = 50
	}
	if opts.LoopbackQueue <= 0 {
		opts.LoopbackQueue = 1000
	}
	if opts.ReassemblyTimeout <= 0 {
		opts.ReassemblyTimeout = DefaultReassemblyTimeout
	}
	if opts.ReassemblyMemory <= 0 {
		opts.ReassemblyMemory = DefaultReassemblyMemory
	}
	if opts.ReassemblyDatagrams <= 0 {
		opts.ReassemblyDatagrams = DefaultReassemblyDatagrams
	}
	if opts.PathMTUEntries <= 0 {
		opts.PathMTUEntries = DefaultPathMTUEntries
	}
	if opts.PathMTUTimeout <= 0 {
		opts.PathMTUTimeout = DefaultPathMTUTimeout
	}
	pr := &Protocol{
		s:    s,
		opts: opts,
	}
	pr.c.init(s.Counters())
	pr.any.on.Store(opts.AcceptAnyDestination)
	pr.ids.init()
	pr.reasm.limit, pr.reasm.maxDatagrams, pr.reasm.timeout = opts.ReassemblyMemory, opts.ReassemblyDatagrams, opts.ReassemblyTimeout
	pr.pmtu.max, pr.pmtu.timeout = opts.PathMTUEntries, opts.PathMTUTimeout
	if opts.ICMPErrorRate > 0 {
		pr.errRL.Interval = time.Second / time.Duration(opts.ICMPErrorRate)
		pr.errRL.Burst = opts.ICMPErrorBurst
	}
	pr.loop = pr.newLoopback()
	if err := s.RegisterNetwork(pr); err != nil {
		pr.loop.Close()
		return nil, err
	}
	return pr, nil
}

// EtherType returns 0x86dd.
func (pr *Protocol) EtherType() uint16 { return stack.EtherTypeIPv6 }

// Stack returns the stack the protocol is registered with.
func (pr *Protocol) Stack() *stack.Stack { return pr.s }

// counters are the named events of the IPv6 and ICMPv6 layers, fetched
// once.
type counters struct {
	rxPackets, rxDelivered, rxTooShort, rxBadVersion, rxBadPayloadLength *stack.Counter
	rxMartianSource, rxMartianDst, rxNotForUs, rxLinkMTUTooSmall         *stack.Counter
	rxBadExtHeader, rxExtChainTooLong, rxOptionDiscard, rxParamProblem   *stack.Counter
	rxNoNextHeader, rxUnknownProtocol, rxNoPort, rxIPsec                 *stack.Counter

	reasmFragments, reasmOK, reasmTimeout, reasmOverlap, reasmTooBig *stack.Counter
	reasmEvicted, reasmDuplicate, reasmMalformed, reasmAtomic        *stack.Counter
	reasmIncompleteChain                                             *stack.Counter

	fwdForwarded, fwdHopLimitExceeded, fwdNoRoute, fwdTooBig, fwdMulticast *stack.Counter
	fwdLinkLocal, fwdBadSource, fwdLinkMulticast, fwdHostUnreachable       *stack.Counter
	fwdBadGSO, fwdGSOPassed, fwdCsumCompleted, fwdCsumOffloaded            *stack.Counter
	fwdGSOSegmented, fwdGSOSegments                                        *stack.Counter

	txPackets, txTooLong, txNoHeadroom, txInvalidRoute, txLinkMTUTooSmall *stack.Counter
	txLoopback, txLoopbackDropped, txResolutionFailed                     *stack.Counter
	txFragmented, txFragments                                             *stack.Counter
	txHopByHop, txBadHopByHop                                             *stack.Counter
	pmtuLearned, pmtuEvicted                                              *stack.Counter

	icmpRxTooShort, icmpRxBadChecksum, icmpRxEchoRequest, icmpRxEchoReply *stack.Counter
	icmpRxEchoNotAnswered                                                 *stack.Counter
	icmpRxBadEchoSource, icmpRxDestUnreach, icmpRxPacketTooBig            *stack.Counter
	icmpRxTimeExceeded, icmpRxParamProblem, icmpRxUnhandled               *stack.Counter
	icmpRxHandled, icmpRxBadQuote, icmpRxErrorNotOurs                     *stack.Counter
	icmpRxErrorNoTransport                                                *stack.Counter
	icmpTxEchoReply, icmpTxDestUnreach, icmpTxPacketTooBig                *stack.Counter
	icmpTxTimeExceeded, icmpTxParamProblem                                *stack.Counter
	icmpTxRateLimited, icmpTxSuppressed, icmpTxNoRoute                    *stack.Counter
}

func (c *counters) init(cs *stack.Counters) {
	g := cs.Get
	c.rxPackets = g("ipv6.rx.packets")
	c.rxDelivered = g("ipv6.rx.delivered")
	c.rxTooShort = g("ipv6.rx.too_short")
	c.rxBadVersion = g("ipv6.rx.bad_version")
	c.rxBadPayloadLength = g("ipv6.rx.bad_payload_length")
	c.rxMartianSource = g("ipv6.rx.martian_source")
	c.rxMartianDst = g("ipv6.rx.martian_destination")
	c.rxNotForUs = g("ipv6.rx.not_for_us")
	c.rxLinkMTUTooSmall = g("ipv6.rx.link_mtu_too_small")
	c.rxBadExtHeader = g("ipv6.rx.bad_ext_header")
	c.rxExtChainTooLong = g("ipv6.rx.ext_chain_too_long")
	c.rxOptionDiscard = g("ipv6.rx.option_discard")
	c.rxParamProblem = g("ipv6.rx.param_problem")
	c.rxNoNextHeader = g("ipv6.rx.no_next_header")
	c.rxUnknownProtocol = g("ipv6.rx.unknown_protocol")
	c.rxNoPort = g("ipv6.rx.no_port")

	c.reasmFragments = g("ipv6.frag.fragments")
	c.reasmOK = g("ipv6.frag.ok")
	c.reasmTimeout = g("ipv6.frag.timeout")
	c.reasmOverlap = g("ipv6.frag.overlap")
	c.reasmTooBig = g("ipv6.frag.too_big")
	c.reasmEvicted = g("ipv6.frag.evicted")
	c.reasmDuplicate = g("ipv6.frag.duplicate")
	c.reasmMalformed = g("ipv6.frag.malformed")
	c.reasmAtomic = g("ipv6.frag.atomic")
	c.reasmIncompleteChain = g("ipv6.frag.incomplete_chain")

	c.fwdForwarded = g("ipv6.fwd.forwarded")
	c.fwdHopLimitExceeded = g("ipv6.fwd.hop_limit_exceeded")
	c.fwdNoRoute = g("ipv6.fwd.no_route")
	c.fwdTooBig = g("ipv6.fwd.too_big")
	c.fwdMulticast = g("ipv6.fwd.multicast")
	c.fwdLinkLocal = g("ipv6.fwd.link_local")
	c.fwdBadSource = g("ipv6.fwd.bad_source")
	c.fwdLinkMulticast = g("ipv6.fwd.link_multicast")
	c.fwdHostUnreachable = g("ipv6.fwd.host_unreachable")
	c.fwdBadGSO = g("ipv6.fwd.bad_gso")
	c.fwdGSOPassed = g("ipv6.fwd.gso_passed")
	c.fwdGSOSegmented = g("ipv6.fwd.gso_segmented")
	c.fwdGSOSegments = g("ipv6.fwd.gso_segments")
	c.fwdCsumCompleted = g("ipv6.fwd.csum_completed")
	c.fwdCsumOffloaded = g("ipv6.fwd.csum_offloaded")

	c.txPackets = g("ipv6.tx.packets")
	c.txTooLong = g("ipv6.tx.too_long")
	c.txNoHeadroom = g("ipv6.tx.no_headroom")
	c.txInvalidRoute = g("ipv6.tx.invalid_route")
	c.txLinkMTUTooSmall = g("ipv6.tx.link_mtu_too_small")
	c.txLoopback = g("ipv6.tx.loopback")
	c.txLoopbackDropped = g("ipv6.tx.loopback_dropped")
	c.txResolutionFailed = g("ipv6.tx.resolution_failed")
	c.txFragmented = g("ipv6.tx.fragmented")
	c.txFragments = g("ipv6.tx.fragments")
	c.txHopByHop = g("ipv6.tx.hop_by_hop")
	c.txBadHopByHop = g("ipv6.tx.bad_hop_by_hop")
	c.pmtuLearned = g("ipv6.pmtu.learned")
	c.pmtuEvicted = g("ipv6.pmtu.evicted")

	c.icmpRxTooShort = g("icmpv6.rx.too_short")
	c.icmpRxBadChecksum = g("icmpv6.rx.bad_checksum")
	c.icmpRxEchoRequest = g("icmpv6.rx.echo_request")
	c.icmpRxEchoReply = g("icmpv6.rx.echo_reply")
	c.icmpRxBadEchoSource = g("icmpv6.rx.bad_echo_source")
	c.icmpRxEchoNotAnswered = g("icmpv6.rx.echo_not_answered")
	c.icmpRxDestUnreach = g("icmpv6.rx.dest_unreachable")
	c.icmpRxPacketTooBig = g("icmpv6.rx.packet_too_big")
	c.icmpRxTimeExceeded = g("icmpv6.rx.time_exceeded")
	c.icmpRxParamProblem = g("icmpv6.rx.param_problem")
	c.icmpRxUnhandled = g("icmpv6.rx.unhandled_type")
	c.icmpRxHandled = g("icmpv6.rx.handed_to_handler")
	c.icmpRxBadQuote = g("icmpv6.rx.bad_quote")
	c.icmpRxErrorNotOurs = g("icmpv6.rx.error_not_ours")
	c.icmpRxErrorNoTransport = g("icmpv6.rx.error_no_transport")
	c.icmpTxEchoReply = g("icmpv6.tx.echo_reply")
	c.icmpTxDestUnreach = g("icmpv6.tx.dest_unreachable")
	c.icmpTxPacketTooBig = g("icmpv6.tx.packet_too_big")
	c.icmpTxTimeExceeded = g("icmpv6.tx.time_exceeded")
	c.icmpTxParamProblem = g("icmpv6.tx.param_problem")
	c.icmpTxRateLimited = g("icmpv6.tx.rate_limited")
	c.icmpTxSuppressed = g("icmpv6.tx.suppressed")
	c.icmpTxNoRoute = g("icmpv6.tx.no_route")
}
