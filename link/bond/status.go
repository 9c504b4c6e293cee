package bond

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/stack"
)

// Status is a snapshot of a bond.
type Status struct {
	Name   string
	Mode   Mode
	Hash   HashPolicy
	MAC    stack.MAC
	MIIUp  bool // some slave carries traffic
	MIIMon time.Duration
	// UpDelay and DownDelay are miimon's delays (Config).
	UpDelay, DownDelay time.Duration
	Primary            string
	Active             string // active-backup: the active slave
	Failovers          uint64
	LACPFast           bool
	LACPPassive        bool // lacp_active=off
	MinLinks           int
	ARPInterval        time.Duration
	ARPTargets         []netip.Addr
	// 802.3ad
	SystemPriority   uint16
	ActiveAggregator uint16
	Slaves           []SlaveStatus
}

// SlaveStatus is a snapshot of one slave.
type SlaveStatus struct {
	Name  string
	MIIUp bool
	// MIIChanging says the carrier differs from MIIUp and the change
	// waits for UpDelay or DownDelay (Linux's "going back", "going
	// down").
	MIIChanging  bool
	ARPUp        bool
	Active       bool // carries traffic (tx) now
	LinkFailures uint64
	// 802.3ad
	Aggregator     uint16
	Actor, Partner lacp.Info
	RxState        lacp.RxState
	MuxState       lacp.MuxState
	Selected       lacp.Selected
	// ActorChurn and PartnerChurn are the churn machines' states, with
	// how many times each churned.
	ActorChurn, PartnerChurn     lacp.ChurnState
	ActorChurned, PartnerChurned uint64
	RxFrames                     uint64
	TxFrames                     uint64
	RxBytes                      uint64
	TxBytes                      uint64
	RxDropped                    uint64
	TxErrors                     uint64
	RxLACPDUs                    uint64
	TxLACPDUs                    uint64
	RxMarkers                    uint64
	TxMarkers                    uint64
	RxMalformed                  uint64
	RxSlowIgnored                uint64
	// RxMarkersLimited counts markers left unanswered by the rate limit.
	RxMarkersLimited uint64
}

// Status returns a snapshot of the bond.
func (b *Bond) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Status{
		Name: b.cfg.Name, Mode: b.cfg.Mode, Hash: b.cfg.Hash, MAC: b.cfg.MAC, MIIMon: b.cfg.MIIMon,
		Primary: b.cfg.Primary, Failovers: b.failovers, LACPFast: b.cfg.LACPFast,
		LACPPassive: b.cfg.LACPPassive, MinLinks: b.cfg.MinLinks, UpDelay: b.cfg.UpDelay, DownDelay: b.cfg.DownDelay,
		ARPInterval: b.cfg.ARPInterval, ARPTargets: b.cfg.ARPTargets,
	}
	tx := *b.tx.Load()
	st.MIIUp = len(tx) > 0
	if b.active != nil {
		st.Active = b.active.name
	}
	if b.lacp != nil {
		st.SystemPriority = b.lacp.Config().SystemPriority
		st.ActiveAggregator = b.lacp.ActiveAggregator()
	}
	for _, s := range b.slaves {
		c := &s.Counters
		ss := SlaveStatus{
			Name: s.name, MIIUp: s.mii, MIIChanging: !s.pendSince.IsZero(), ARPUp: s.arpUp, LinkFailures: s.failures,
			RxFrames: c.RxFrames.Load(), TxFrames: c.TxFrames.Load(), RxBytes: c.RxBytes.Load(), TxBytes: c.TxBytes.Load(),
			RxDropped: c.RxDropped.Load(), TxErrors: c.TxErrors.Load(), RxLACPDUs: c.RxLACPDUs.Load(), TxLACPDUs: c.TxLACPDUs.Load(),
			RxMarkers: c.RxMarkers.Load(), TxMarkers: c.TxMarkers.Load(), RxMalformed: c.RxMalformed.Load(), RxSlowIgnored: c.RxSlowIgnored.Load(), RxMarkersLimited: c.RxMarkersLimited.Load(),
		}
		for _, t := range tx {
			if t == s {
				ss.Active = true
			}
		}
		if p := s.port; p != nil {
			ss.Aggregator, ss.Actor, ss.Partner = p.Aggregator(), p.Actor(), p.Partner()
			ss.RxState, ss.MuxState, ss.Selected = p.RxState(), p.MuxState(), p.Selected()
			ss.ActorChurn, ss.ActorChurned = p.ActorChurn()
			ss.PartnerChurn, ss.PartnerChurned = p.PartnerChurn()
		}
		st.Slaves = append(st.Slaves, ss)
	}
	return st
}

// modeNames are Linux's /proc/net/bonding names of the modes.
var modeNames = [...]string{
	ActiveBackup: "fault-tolerance (active-backup)",
	BalanceXOR:   "load balancing (xor)",
	LACP:         "IEEE 802.3ad Dynamic link aggregation",
}

func updown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// miiStatus is a slave's MII Status as Linux prints it
// (bond_slave_link_status): up, going down (within downdelay), down,
// going back (within updelay).
func miiStatus(s SlaveStatus) string {
	switch {
	case s.MIIUp && s.MIIChanging:
		return "going down"
	case !s.MIIUp && s.MIIChanging:
		return "going back"
	}
	return updown(s.MIIUp)
}

// WriteProc writes st in the layout of Linux's /proc/net/bonding/NAME,
// with tapstack's per-slave counters after each slave.
func (st Status) WriteProc(w io.Writer) {
	fmt.Fprintf(w, "Ethernet Channel Bonding Driver: tapstack\n\n")
	fmt.Fprintf(w, "Bonding Mode: %s\n", modeNames[st.Mode])
	if st.Mode != ActiveBackup {
		fmt.Fprintf(w, "Transmit Hash Policy: %s (%d)\n", st.Hash, map[HashPolicy]int{Layer2: 0, Layer34: 1}[st.Hash])
	}
	if st.Mode == ActiveBackup {
		if st.Primary != "" {
			fmt.Fprintf(w, "Primary Slave: %s (primary_reselect always)\n", st.Primary)
		} else {
			fmt.Fprintf(w, "Primary Slave: None\n")
		}
		active := st.Active
		if active == "" {
			active = "None"
		}
		fmt.Fprintf(w, "Currently Active Slave: %s\n", active)
	}
	fmt.Fprintf(w, "MII Status: %s\n", updown(st.MIIUp))
	fmt.Fprintf(w, "MII Polling Interval (ms): %d\n", st.MIIMon.Milliseconds())
	fmt.Fprintf(w, "Up Delay (ms): %d\nDown Delay (ms): %d\n", st.UpDelay.Milliseconds(), st.DownDelay.Milliseconds())
	if st.ARPInterval > 0 && len(st.ARPTargets) > 0 {
		fmt.Fprintf(w, "ARP Polling Interval (ms): %d\n", st.ARPInterval.Milliseconds())
		fmt.Fprintf(w, "ARP Missed Max: 2\n")
		fmt.Fprintf(w, "ARP IP target/s (n.n.n.n form):")
		for i, t := range st.ARPTargets {
			sep := " "
			if i > 0 {
				sep = ", "
			}
			fmt.Fprintf(w, "%s%v", sep, t)
		}
		fmt.Fprintln(w)
	}
	if st.Mode == ActiveBackup {
		fmt.Fprintf(w, "Failover Count: %d\n", st.Failovers)
	}
	if st.Mode == LACP {
		rate := "slow"
		if st.LACPFast {
			rate = "fast"
		}
		active := "on"
		if st.LACPPassive {
			active = "off"
		}
		fmt.Fprintf(w, "\n802.3ad info\nLACP active: %s\nLACP rate: %s\nMin links: %d\n", active, rate, st.MinLinks)
		fmt.Fprintf(w, "Aggregator selection policy (ad_select): stable\n")
		fmt.Fprintf(w, "System priority: %d\nSystem MAC address: %v\n", st.SystemPriority, st.MAC)
		fmt.Fprintf(w, "Active Aggregator Info:\n")
		n := 0
		var first *SlaveStatus
		for i := range st.Slaves {
			if s := &st.Slaves[i]; s.Aggregator == st.ActiveAggregator && st.ActiveAggregator != 0 {
				n++
				if first == nil {
					first = s
				}
			}
		}
		fmt.Fprintf(w, "\tAggregator ID: %d\n\tNumber of ports: %d\n", st.ActiveAggregator, n)
		if first != nil {
			fmt.Fprintf(w, "\tActor Key: %d\n\tPartner Key: %d\n\tPartner Mac Address: %v\n", first.Actor.Key, first.Partner.Key, first.Partner.System)
		}
	}
	for _, s := range st.Slaves {
		fmt.Fprintf(w, "\nSlave Interface: %s\n", s.Name)
		fmt.Fprintf(w, "MII Status: %s\n", miiStatus(s))
		if st.ARPInterval > 0 && len(st.ARPTargets) > 0 {
			fmt.Fprintf(w, "ARP Status: %s\n", updown(s.ARPUp))
		}
		fmt.Fprintf(w, "Link Failure Count: %d\n", s.LinkFailures)
		fmt.Fprintf(w, "Permanent HW addr: %v\n", st.MAC)
		if st.Mode == LACP {
			fmt.Fprintf(w, "Aggregator ID: %d\n", s.Aggregator)
			fmt.Fprintf(w, "Actor Churn State: %v\nPartner Churn State: %v\nActor Churned Count: %d\nPartner Churned Count: %d\n",
				s.ActorChurn, s.PartnerChurn, s.ActorChurned, s.PartnerChurned)
			fmt.Fprintf(w, "Receive State: %v\nMux State: %v\nSelection: %v\n", s.RxState, s.MuxState, s.Selected)
			writeInfo(w, "details actor lacp pdu:", "port key", s.Actor)
			writeInfo(w, "details partner lacp pdu:", "oper key", s.Partner)
		}
		fmt.Fprintf(w, "Counters: rx %d frames %d bytes, tx %d frames %d bytes, rx dropped (inactive) %d, tx errors %d\n",
			s.RxFrames, s.RxBytes, s.TxFrames, s.TxBytes, s.RxDropped, s.TxErrors)
		if st.Mode == LACP {
			fmt.Fprintf(w, "LACP Counters: LACPDUs rx %d tx %d, markers rx %d responses tx %d (rate-limited %d), malformed %d\n",
				s.RxLACPDUs, s.TxLACPDUs, s.RxMarkers, s.TxMarkers, s.RxMarkersLimited, s.RxMalformed)
		}
	}
}

// writeInfo writes an actor or partner block as Linux does, with the
// state bits spelled out.
func writeInfo(w io.Writer, title, key string, i lacp.Info) {
	fmt.Fprintf(w, "%s\n    system priority: %d\n    system mac address: %v\n    %s: %d\n    port priority: %d\n    port number: %d\n    port state: %d (%s)\n",
		title, i.SystemPriority, i.System, key, i.Key, i.PortPriority, i.Port, i.State, stateFlags(i.State))
}

// stateFlags spells out the LACP state bits.
func stateFlags(s lacp.State) string {
	names := []string{"activity", "short_timeout", "aggregation", "synchronization", "collecting", "distributing", "defaulted", "expired"}
	out := ""
	for i, n := range names {
		if s&(1<<i) != 0 {
			if out != "" {
				out += ","
			}
			out += n
		}
	}
	if out == "" {
		return "none"
	}
	return out
}
