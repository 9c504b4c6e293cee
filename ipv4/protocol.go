package ipv4

import (
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/internal/gcra"
	"github.com/tapstack/tapstack/internal/loopq"
	"github.com/tapstack/tapstack/stack"
)

// DefaultTTL is the TTL of packets we originate when neither Options nor the
// transport choose one (Linux net.ipv4.ip_default_ttl).
const DefaultTTL = 64

// Options configure the IPv4 layer. The zero value gives Linux-like
// defaults.
type Options struct {
	// DefaultTTL is the TTL of outbound packets whose transport does not
	// set one; 0 means 64.
	DefaultTTL uint8
	// ICMPErrorRate is how many ICMP error messages per second we send at
	// most (token bucket refill); 0 means 1000 (Linux icmp_msgs_per_sec),
	// a negative value disables rate limiting.
	ICMPErrorRate int
	// ICMPErrorBurst is the token bucket depth; 0 means 50 (Linux
	// icmp_msgs_burst).
	ICMPErrorBurst int
	// EchoBroadcast answers echo requests sent to a broadcast address.
	// The default (false) ignores them, like Linux with
	// icmp_echo_ignore_broadcasts=1.
	EchoBroadcast bool
	// LoopbackQueue bounds the packets waiting for delivery to our own
	// addresses; 0 means 1000 (Linux netdev_max_backlog).
	LoopbackQueue int
	// Forwarding makes the stack a router (RFC 1812): packets not
	// addressed to us are forwarded along the route table with their TTL
	// decremented. The default (false) drops them, like Linux with
	// net.ipv4.ip_forward=0.
	Forwarding bool
	// ReassemblyTimeout is how long the fragments of an incomplete
	// datagram are kept; 0 means 30s (Linux ipfrag_time).
	ReassemblyTimeout time.Duration
	// ReassemblyMemory bounds the bytes held by all incomplete datagrams
	// (fragment data plus bookkeeping); over it the oldest are evicted.
	// 0 means 4 MiB (Linux ipfrag_high_thresh).
	ReassemblyMemory int
	// AcceptAnyDestination delivers unicast packets to addresses that
	// are not ours to the local transports (see
	// Protocol.SetAcceptAnyDestination).
	AcceptAnyDestination bool
}

// Protocol is the IPv4 layer of one stack. It implements
// stack.NetworkProtocol (EtherType 0x0800), stack.IPWriter,
// stack.ResolutionFailureHandler and io.Closer.
type Protocol struct {
	s    *stack.Stack
	opts Options
	c    counters

	nextID atomic.Uint32
	errRL  gcra.Limiter
	reasm  reassembler
	any    anyDst // anydst.go

	loop *loopq.Queue // loopback.go
}

var (
	_ stack.NetworkProtocol          = (*Protocol)(nil)
	_ stack.IPWriter                 = (*Protocol)(nil)
	_ stack.ResolutionFailureHandler = (*Protocol)(nil)
)

// Register creates the IPv4 layer and registers it with s as the network
// protocol for EtherType 0x0800 and as the IP layer transports send
// through. It starts one goroutine (loopback delivery), ended by Close or
// by s.Close.
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	if opts.DefaultTTL == 0 {
		opts.DefaultTTL = DefaultTTL
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
	pr := &Protocol{
		s:    s,
		opts: opts,
	}
	pr.c.init(s.Counters())
	pr.any.on.Store(opts.AcceptAnyDestination)
	pr.reasm.limit, pr.reasm.timeout = opts.ReassemblyMemory, opts.ReassemblyTimeout
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

// EtherType returns 0x0800.
func (pr *Protocol) EtherType() uint16 { return stack.EtherTypeIPv4 }

// Stack returns the stack the protocol is registered with.
func (pr *Protocol) Stack() *stack.Stack { return pr.s }

// counters are the named events of the IPv4 and ICMP layers, fetched once.
type counters struct {
	rxPackets, rxDelivered                               *stack.Counter
	rxTooShort, rxBadVersion, rxBadIHL, rxBadTotalLength *stack.Counter
	rxBadChecksum, rxMartianSource, rxMartianDst         *stack.Counter
	rxNotForUs, rxNotMember                              *stack.Counter
	rxUnknownProtocol, rxNoPort, rxBadOptions            *stack.Counter

	reasmFragments, reasmOK, reasmTimeout, reasmOverlap, reasmTooBig *stack.Counter
	reasmEvicted, reasmDuplicate, reasmMalformed                     *stack.Counter

	fwdForwarded, fwdTTLExceeded, fwdNoRoute, fwdFragNeeded, fwdFragmented *stack.Counter
	fwdMulticast, fwdBroadcast, fwdLinkBroadcast, fwdBadSource, fwdBadDst  *stack.Counter
	fwdSourceRoute, fwdHostUnreachable, fwdCannotFragment                  *stack.Counter
	fwdCsumCompleted, fwdCsumOffloaded, fwdBadGSO                          *stack.Counter
	fwdGSOPassed, fwdGSOSegmented, fwdGSOSegments                          *stack.Counter

	txPackets, txTooLong, txNoHeadroom, txInvalidRoute *stack.Counter
	txLoopback, txLoopbackDropped, txResolutionFailed  *stack.Counter
	txFragmented, txFragments                          *stack.Counter

	icmpRxTooShort, icmpRxBadChecksum, icmpRxEchoRequest, icmpRxEchoReply   *stack.Counter
	icmpRxEchoBroadcastIgnored, icmpRxBadEchoSource                         *stack.Counter
	icmpRxDestUnreach, icmpRxTimeExceeded, icmpRxParamProblem               *stack.Counter
	icmpRxSourceQuench, icmpRxRedirect, icmpRxUnhandled                     *stack.Counter
	icmpRxBadQuote, icmpRxErrorNotOurs, icmpRxErrorNoTransport              *stack.Counter
	icmpTxEchoReply, icmpTxDestUnreach, icmpTxTimeExceeded, icmpTxParamProb *stack.Counter
	icmpTxRateLimited, icmpTxSuppressed, icmpTxNoRoute, icmpTxOtherError    *stack.Counter
}

func (c *counters) init(cs *stack.Counters) {
	g := cs.Get
	c.rxPackets = g("ipv4.rx.packets")
	c.rxDelivered = g("ipv4.rx.delivered")
	c.rxTooShort = g("ipv4.rx.too_short")
	c.rxBadVersion = g("ipv4.rx.bad_version")
	c.rxBadIHL = g("ipv4.rx.bad_ihl")
	c.rxBadTotalLength = g("ipv4.rx.bad_total_length")
	c.rxBadChecksum = g("ipv4.rx.bad_checksum")
	c.rxMartianSource = g("ipv4.rx.martian_source")
	c.rxMartianDst = g("ipv4.rx.martian_destination")
	c.rxNotForUs = g("ipv4.rx.not_for_us")
	c.rxNotMember = g("ipv4.rx.not_member")
	c.rxUnknownProtocol = g("ipv4.rx.unknown_protocol")
	c.rxNoPort = g("ipv4.rx.no_port")
	c.rxBadOptions = g("ipv4.rx.bad_options")

	c.reasmFragments = g("ipv4.reasm.fragments")
	c.reasmOK = g("ipv4.reasm.ok")
	c.reasmTimeout = g("ipv4.reasm.timeout")
	c.reasmOverlap = g("ipv4.reasm.overlap")
	c.reasmTooBig = g("ipv4.reasm.too_big")
	c.reasmEvicted = g("ipv4.reasm.evicted")
	c.reasmDuplicate = g("ipv4.reasm.duplicate")
	c.reasmMalformed = g("ipv4.reasm.malformed")

	c.fwdForwarded = g("ipv4.fwd.forwarded")
	c.fwdTTLExceeded = g("ipv4.fwd.ttl_exceeded")
	c.fwdNoRoute = g("ipv4.fwd.no_route")
	c.fwdFragNeeded = g("ipv4.fwd.frag_needed")
	c.fwdFragmented = g("ipv4.fwd.fragmented")
	c.fwdMulticast = g("ipv4.fwd.multicast")
	c.fwdBroadcast = g("ipv4.fwd.broadcast")
	c.fwdLinkBroadcast = g("ipv4.fwd.link_broadcast")
	c.fwdBadSource = g("ipv4.fwd.bad_source")
	c.fwdBadDst = g("ipv4.fwd.bad_destination")
	c.fwdSourceRoute = g("ipv4.fwd.source_route")
	c.fwdHostUnreachable = g("ipv4.fwd.host_unreachable")
	c.fwdCannotFragment = g("ipv4.fwd.cannot_fragment")
	c.fwdCsumCompleted = g("ipv4.fwd.csum_completed")
	c.fwdCsumOffloaded = g("ipv4.fwd.csum_offloaded")
	c.fwdBadGSO = g("ipv4.fwd.bad_gso")
	c.fwdGSOPassed = g("ipv4.fwd.gso_passed")
	c.fwdGSOSegmented = g("ipv4.fwd.gso_segmented")
	c.fwdGSOSegments = g("ipv4.fwd.gso_segments")

	c.txPackets = g("ipv4.tx.packets")
	c.txTooLong = g("ipv4.tx.too_long")
	c.txNoHeadroom = g("ipv4.tx.no_headroom")
	c.txInvalidRoute = g("ipv4.tx.invalid_route")
	c.txLoopback = g("ipv4.tx.loopback")
	c.txLoopbackDropped = g("ipv4.tx.loopback_dropped")
	c.txResolutionFailed = g("ipv4.tx.resolution_failed")
	c.txFragmented = g("ipv4.tx.fragmented")
	c.txFragments = g("ipv4.tx.fragments")

	c.icmpRxTooShort = g("icmp.rx.too_short")
	c.icmpRxBadChecksum = g("icmp.rx.bad_checksum")
	c.icmpRxEchoRequest = g("icmp.rx.echo_request")
	c.icmpRxEchoReply = g("icmp.rx.echo_reply")
	c.icmpRxEchoBroadcastIgnored = g("icmp.rx.echo_broadcast_ignored")
	c.icmpRxBadEchoSource = g("icmp.rx.bad_echo_source")
	c.icmpRxDestUnreach = g("icmp.rx.dest_unreachable")
	c.icmpRxTimeExceeded = g("icmp.rx.time_exceeded")
	c.icmpRxParamProblem = g("icmp.rx.param_problem")
	c.icmpRxSourceQuench = g("icmp.rx.source_quench")
	c.icmpRxRedirect = g("icmp.rx.redirect")
	c.icmpRxUnhandled = g("icmp.rx.unhandled_type")
	c.icmpRxBadQuote = g("icmp.rx.bad_quote")
	c.icmpRxErrorNotOurs = g("icmp.rx.error_not_ours")
	c.icmpRxErrorNoTransport = g("icmp.rx.error_no_transport")
	c.icmpTxEchoReply = g("icmp.tx.echo_reply")
	c.icmpTxDestUnreach = g("icmp.tx.dest_unreachable")
	c.icmpTxTimeExceeded = g("icmp.tx.time_exceeded")
	c.icmpTxParamProb = g("icmp.tx.param_problem")
	c.icmpTxOtherError = g("icmp.tx.other_error")
	c.icmpTxRateLimited = g("icmp.tx.rate_limited")
	c.icmpTxSuppressed = g("icmp.tx.suppressed")
	c.icmpTxNoRoute = g("icmp.tx.no_route")
}
