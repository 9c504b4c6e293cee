package web

import (
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

// Snapshot is what the page renders: the host's tables at one moment, as
// /status.json serves them.
type Snapshot struct {
	// Time is when the snapshot was taken (the host's clock).
	Time time.Time `json:"time"`
	// Public says peers, counters, TCP details and graphs are left out
	// (the page on the network, tapstack up --status public).
	Public bool `json:"public"`
	// Forwarding says the host routes (IPv4 or IPv6).
	Forwarding bool `json:"forwarding"`
	// Interfaces are the NICs in ID order, Routes both families' tables.
	Interfaces []Interface `json:"interfaces"`
	Routes     []Route     `json:"routes"`
	// ARP and NDP are the neighbour caches.
	ARP []Neighbour `json:"arp"`
	NDP []Neighbour `json:"ndp"`
	// TCP are the listeners and connections, UDP the endpoints.
	TCP []Conn     `json:"tcp"`
	UDP []Datagram `json:"udp"`
	// Counters are every named counter, sorted by name; nil on the
	// public page.
	Counters []Counter `json:"counters"`
	// Sampling says the graph sampler runs (someone polls).
	Sampling bool `json:"sampling"`
}

// Interface is one NIC of the host.
type Interface struct {
	// ID and Name are the NIC's.
	ID   int    `json:"id"`
	Name string `json:"name"`
	// Kind is "ethernet", "vlan" (an 802.1Q port of a trunk), "native"
	// (a trunk's untagged port), "tun" or "bond".
	Kind string `json:"kind"`
	// Parent is the device a VLAN rides on ("tap0" for "tap0.10"); VID its
	// VLAN ID. Members are a bond's devices and Mode its mode, for an
	// endpoint that tells them (BondMembers, BondMode).
	Parent  string   `json:"parent,omitempty"`
	VID     int      `json:"vid,omitempty"`
	Members []string `json:"members,omitempty"`
	Mode    string   `json:"mode,omitempty"`
	// MTU, MAC (none on a TUN) and the addresses, as ip addr shows them.
	MTU   int    `json:"mtu"`
	MAC   string `json:"mac,omitempty"`
	Addrs []Addr `json:"addrs"`
}

// Addr is an interface address with its family and scope, as ip addr
// shows them.
type Addr struct {
	// Prefix is the address with its prefix length ("10.0.0.2/24").
	Prefix string `json:"prefix"`
	Family string `json:"family"` // "inet" or "inet6"
	Scope  string `json:"scope"`  // "global" or "link"
}

// Route is one route table entry.
type Route struct {
	// Family is "inet" or "inet6"; Dst the prefix ("default" for /0),
	// Via the gateway, Dev the interface, Src the preferred source.
	Family string `json:"family"`
	Dst    string `json:"dst"`
	Via    string `json:"via,omitempty"`
	Dev    string `json:"dev,omitempty"`
	Src    string `json:"src,omitempty"`
	// Text is the entry as ip route prints it.
	Text string `json:"text"`
}

// Neighbour is one ARP or NDP cache entry.
type Neighbour struct {
	// Addr is the neighbour (a prefix for a published ARP range), MAC
	// its link address once known, Dev the interface, State the NUD
	// state (INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, FAILED...).
	Addr  string `json:"addr"`
	MAC   string `json:"mac,omitempty"`
	Dev   string `json:"dev"`
	State string `json:"state"`
	// Flags are arp -n's C (complete), M (static), P (published); for NDP
	// "router" when the neighbour is a router.
	Flags string `json:"flags"`
	// Queued is the packets waiting for the resolution.
	Queued int `json:"queued"`
}

// Conn is one TCP connection or listener. Remote is "*" on the public
// page; Detail and ID are set only off it.
type Conn struct {
	// ID names the connection on the page ("LOCAL-REMOTE").
	ID string `json:"id,omitempty"`
	// Local, Remote, State, RecvQ and SendQ are ss's columns.
	Local  string `json:"local"`
	Remote string `json:"remote"`
	State  string `json:"state"`
	RecvQ  int    `json:"recvq"`
	SendQ  int    `json:"sendq"`
	// Detail is the ss -ti part.
	Detail *Detail `json:"detail,omitempty"`
	// Graph is the connection's time-sequence history, when sampled.
	Graph *Graph `json:"graph,omitempty"`
}

// Detail is the ss -ti part of a connection; sequence numbers relative to
// the ISS (ours) and IRS (the peer's), as tcptrace prints them. The fields
// are those of tcp.ConnDetail: SND.UNA, SND.NXT, SND.MAX, the peer's
// window; RCV.NXT, the free receive space and the right edge we
// advertised; the MSS both ways; cwnd, ssthresh (0 while unset) and the
// algorithm; smoothed RTT, its variation and the RTO in milliseconds;
// the RTO backoff, fast recovery, bytes in flight and SACKed; the peer's
// SACK blocks and our out-of-order ranges; the window scales and the
// negotiated options.
type Detail struct {
	SndUna    uint32      `json:"snd_una"`
	SndNxt    uint32      `json:"snd_nxt"`
	SndMax    uint32      `json:"snd_max"`
	SndWnd    uint32      `json:"snd_wnd"`
	RcvNxt    uint32      `json:"rcv_nxt"`
	RcvWnd    int         `json:"rcv_space"`
	RcvAdv    uint32      `json:"rcv_adv"`
	MSS       int         `json:"mss"`
	PeerMSS   int         `json:"peer_mss"`
	Cwnd      int         `json:"cwnd"`
	Ssthresh  int         `json:"ssthresh"`
	CC        string      `json:"cc"`
	RTTms     float64     `json:"rtt_ms"`
	RTTVarms  float64     `json:"rttvar_ms"`
	RTOms     float64     `json:"rto_ms"`
	HasRTT    bool        `json:"has_rtt"`
	Backoff   int         `json:"backoff"`
	Recovery  bool        `json:"recovery"`
	InFlight  int         `json:"bytes_in_flight"`
	Sacked    int         `json:"sacked"`
	SACK      [][2]uint32 `json:"sack"`
	OOO       [][2]uint32 `json:"ooo"`
	SndWscale uint8       `json:"snd_wscale"`
	RcvWscale uint8       `json:"rcv_wscale"`
	TS        bool        `json:"ts"`
	SACKOn    bool        `json:"sack_ok"`
	ECN       bool        `json:"ecn"`
	// Retrans counts the retransmission episodes the sampler saw (SND.NXT
	// behind SND.MAX, a timeout backoff, or fast recovery) while it ran.
	Retrans int `json:"retrans_seen"`
}

// Datagram is one UDP endpoint.
type Datagram struct {
	// Local and Remote are the addresses ("*" for a peer on the public
	// page), Queued the bytes waiting to be read.
	Local  string `json:"local"`
	Remote string `json:"remote"`
	Queued int    `json:"queued"`
}

// Counter is a named counter with what it counts.
type Counter struct {
	// Name, Value and Help: the counter, its value and what it counts.
	Name  string `json:"name"`
	Value uint64 `json:"value"`
	Help  string `json:"help"`
}

// bondEndpoint is what a bond's link endpoint answers, so that a bond
// shows its members on the page.
type bondEndpoint interface {
	BondMode() string
	BondMembers() []string
}

// vlanEndpoint is a trunk's port (link.TrunkPort).
type vlanEndpoint interface{ VID() uint16 }

func interfaces(s *stack.Stack) []Interface {
	var out []Interface
	for _, n := range s.NICs() {
		ifc := Interface{ID: n.ID(), Name: n.Name(), Kind: "ethernet", MTU: n.MTU(), Addrs: []Addr{}}
		switch ep := n.LinkEndpoint().(type) {
		case *link.L3:
			ifc.Kind = "tun"
		case bondEndpoint:
			ifc.Kind, ifc.Mode, ifc.Members = "bond", ep.BondMode(), ep.BondMembers()
		case vlanEndpoint:
			if vid := ep.VID(); vid == 0 {
				ifc.Kind = "native"
			} else {
				ifc.Kind, ifc.VID = "vlan", int(vid)
				ifc.Parent = vlanParent(n.Name(), vid)
			}
		}
		if ifc.Kind != "tun" {
			ifc.MAC = n.LinkAddress().String()
		}
		for _, a := range n.Addresses() {
			ad := Addr{Prefix: a.String(), Family: "inet", Scope: "global"}
			if a.Addr().Is6() {
				ad.Family = "inet6"
			}
			if a.Addr().IsLinkLocalUnicast() {
				ad.Scope = "link"
			}
			ifc.Addrs = append(ifc.Addrs, ad)
		}
		out = append(out, ifc)
	}
	return out
}

// vlanParent is the parent of a VLAN interface named link.VLANName(parent,
// vid), or "" for another name.
func vlanParent(name string, vid uint16) string {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '.' {
			if link.VLANName(name[:i], vid) == name {
				return name[:i]
			}
			break
		}
	}
	return ""
}

func routes(s *stack.Stack) []Route {
	var out []Route
	for _, r := range s.Routes() {
		rt := Route{Family: "inet", Dst: r.Dst.String(), Text: host.FormatRoute(r)}
		if r.Dst.Addr().Is6() {
			rt.Family = "inet6"
		}
		if r.Dst.Bits() == 0 {
			rt.Dst = "default"
		}
		if r.Gateway.IsValid() {
			rt.Via = r.Gateway.String()
		}
		if r.NIC != nil {
			rt.Dev = r.NIC.Name()
		}
		if r.Src.IsValid() {
			rt.Src = r.Src.String()
		}
		out = append(out, rt)
	}
	return out
}

func neighbours(h *host.Host) (v4, v6 []Neighbour) {
	v4, v6 = []Neighbour{}, []Neighbour{}
	for _, e := range h.ARP().Entries() {
		n := Neighbour{Addr: e.Addr.String(), Dev: e.NIC, State: e.State.String(), Flags: e.Flags.String(), Queued: e.Queued}
		if e.Flags&arp.FlagComplete != 0 {
			n.MAC = e.MAC.String()
		}
		if e.Flags&arp.FlagPublished != 0 && e.Prefix.IsValid() {
			n.Addr = e.Prefix.String()
		}
		v4 = append(v4, n)
	}
	for _, e := range h.NDP().Entries() {
		n := Neighbour{Addr: e.Addr.String(), Dev: e.NIC, State: e.State.String(), Queued: e.Queued}
		if !e.MAC.IsZero() {
			n.MAC = e.MAC.String()
		}
		if e.Router {
			n.Flags = "router"
		}
		v6 = append(v6, n)
	}
	return v4, v6
}

// peerString formats a peer, "*:*" for none and "*" on the public page.
func peerString(a netip.AddrPort, public bool) string {
	switch {
	case public:
		return "*"
	case a.IsValid() && a.Port() != 0:
		return a.String()
	}
	return "*:*"
}

// connID names a connection on the page (and in the sampler).
func connID(local, remote netip.AddrPort) string { return local.String() + "-" + remote.String() }

// detail is the page's view of a tcp.ConnDetail.
func detail(d *tcp.ConnDetail, retrans int) *Detail {
	ms := func(t time.Duration) float64 { return float64(t.Microseconds()) / 1000 }
	out := &Detail{
		SndUna: d.SndUna - d.ISS, SndNxt: d.SndNxt - d.ISS, SndMax: d.SndMax - d.ISS, SndWnd: d.SndWnd,
		RcvNxt: d.RcvNxt - d.IRS, RcvWnd: d.RcvWnd, RcvAdv: d.RcvAdvRight - d.IRS,
		MSS: d.MSS, PeerMSS: d.PeerMSS, Cwnd: d.Cwnd, Ssthresh: d.Ssthresh, CC: d.CC,
		RTTms: ms(d.SRTT), RTTVarms: ms(d.RTTVar), RTOms: ms(d.RTO), HasRTT: d.HasRTT,
		Backoff: d.Retries, Recovery: d.InRecovery, InFlight: d.BytesInFlight, Sacked: d.Sacked,
		SACK: [][2]uint32{}, OOO: [][2]uint32{},
		SndWscale: d.SndShift, RcvWscale: d.RcvShift, TS: d.TS, SACKOn: d.SACKOn, ECN: d.ECN,
		Retrans: retrans,
	}
	for _, b := range d.SACK[:d.NumSACK] {
		out.SACK = append(out.SACK, [2]uint32{b.Left - d.ISS, b.Right - d.ISS})
	}
	for _, b := range d.OOO[:d.NumOOO] {
		out.OOO = append(out.OOO, [2]uint32{b.Left - d.IRS, b.Right - d.IRS})
	}
	if out.Ssthresh >= 1<<30 {
		out.Ssthresh = 0 // not set yet: ss leaves it out
	}
	return out
}
