// Package bond aggregates several raw frame devices (TAPs, pipes) into
// one link.Device, as Linux's bonding driver does: active-backup (one
// slave carries everything; failover announces our addresses),
// balance-xor (each flow hashed onto one slave) and 802.3ad (LACP, IEEE
// 802.1AX, through package lacp). A Bond is a link.Device, so an
// Ethernet endpoint or an 802.1Q Trunk goes on top of it like on a TAP:
// addresses, VLANs, DHCP and forwarding work unchanged.
//
// Slave links are watched like Linux's miimon (each slave's Carrier
// function, polled, and failing writes), with ARP monitoring
// (arp_ip_target, arp_interval) in active-backup mode, and with LACP
// partner timeouts in 802.3ad mode.
package bond

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// Mode is the bonding mode.
type Mode uint8

// Bonding modes.
const (
	ActiveBackup Mode = iota // one active slave, the others standing by
	BalanceXOR               // each flow on the slave its hash picks
	LACP                     // IEEE 802.3ad / 802.1AX dynamic aggregation
)

// String returns Linux's name of the mode.
func (m Mode) String() string {
	return [...]string{"active-backup", "balance-xor", "802.3ad"}[m]
}

// ParseMode parses Linux's mode names (and numbers 1, 2, 4).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "active-backup", "1":
		return ActiveBackup, nil
	case "balance-xor", "2":
		return BalanceXOR, nil
	case "802.3ad", "4":
		return LACP, nil
	}
	return 0, fmt.Errorf("unknown bond mode %q (want active-backup, balance-xor or 802.3ad)", s)
}

// SlaveConfig is one slave of a bond.
type SlaveConfig struct {
	// Name is the slave's interface name (a TAP's).
	Name string
	// Dev is the slave's frame device; the bond owns it from New on.
	Dev link.Device
	// Carrier, when not nil, reports whether the slave's link is up
	// (for a TAP: the interface is up and running, read through
	// netlink); the bond polls it every MIIMon.
	Carrier func() bool
}

// Config configures a bond.
type Config struct {
	// Name is the bond's name (bond0).
	Name string
	// MAC is the bond's address: the source of every frame on every
	// slave, and the LACP system ID.
	MAC  stack.MAC
	Mode Mode
	// Hash is the transmit hash policy of balance-xor and 802.3ad.
	Hash HashPolicy
	// Primary names the preferred slave of active-backup ("": the
	// first).
	Primary string
	// LACPFast asks the LACP partner for LACPDUs every second (Linux's
	// lacp_rate=fast), else every 30 s.
	LACPFast bool
	// LACPPassive makes the bond's LACP passive (Linux's
	// lacp_active=off): it sends no LACPDU until its partner does.
	LACPPassive bool
	// MinLinks (802.3ad) is how many links the active aggregator needs
	// before the bond carries traffic (Linux's min_links); below it
	// the bond sends nothing and its MII Status is down.
	MinLinks int
	// MIIMon is the carrier polling interval; 0 means 100 ms.
	MIIMon time.Duration
	// UpDelay and DownDelay (Linux's updelay, downdelay) are how long
	// a slave's carrier must stay up (down) before the bond takes the
	// slave up (down); MII Status says "going back" ("going down")
	// meanwhile. Linux wants multiples of MIIMon.
	UpDelay, DownDelay time.Duration
	// ARPInterval and ARPTargets turn on ARP monitoring (active-backup):
	// every interval the active slave asks each target for its MAC; a
	// slave that has received no ARP frame for two intervals is down.
	ARPInterval time.Duration
	ARPTargets  []netip.Addr
	// Clock times the monitors; nil means the wall clock.
	Clock stack.Clock
}

// Errors of New.
var (
	ErrNoSlaves = errors.New("bond: no slaves")
	ErrPrimary  = errors.New("bond: primary is not a slave")
)

// Bond is a link.Device over several slave devices. Create it with New.
type Bond struct {
	cfg    Config
	clock  stack.Clock
	slaves []*slave
	up     atomic.Pointer[link.FrameDispatcher]

	// gsoMax and csum are the offloads common to every slave
	// (offload.go), fixed at New.
	gsoMax int
	csum   bool

	// tx is the slaves that carry frames now (immutable; replaced).
	tx atomic.Pointer[[]*slave]

	mu        sync.Mutex
	lacp      *lacp.System // 802.3ad only
	active    *slave       // active-backup
	failovers uint64
	addrs     func() []Addr
	timer     stack.Timer
	closed    bool
	lastMII   time.Time
	lastARP   time.Time
	pending   []pending // frames to send once mu is released
	txBuf     []lacp.Transmission

	ticks sync.WaitGroup
}

// pending is a frame the monitor sends on a slave.
type pending struct {
	s *slave
	p *stack.Packet
}

// tickEvery is the period of the bond's monitor: LACP's machines and the
// timers of miimon and the ARP monitor run on it.
const tickEvery = 100 * time.Millisecond

// New returns a bond over slaves. Nothing is sent or received until
// Attach.
func New(cfg Config, slaves []SlaveConfig) (*Bond, error) {
	if len(slaves) == 0 {
		return nil, ErrNoSlaves
	}
	if cfg.MIIMon <= 0 {
		cfg.MIIMon = 100 * time.Millisecond
	}
	b := &Bond{cfg: cfg, clock: cfg.Clock}
	b.gsoMax, b.csum = offloads(slaves)
	if b.clock == nil {
		b.clock = stack.RealClock{}
	}
	if cfg.Mode == LACP {
		b.lacp = lacp.NewSystem(lacp.Config{System: cfg.MAC, Fast: cfg.LACPFast, Passive: cfg.LACPPassive, Key: 9})
	}
	found := cfg.Primary == ""
	for i, sc := range slaves {
		s := &slave{b: b, name: sc.Name, dev: sc.Dev, carrier: sc.Carrier, index: i}
		if sc.Name == cfg.Primary {
			found = true
		}
		if b.lacp != nil {
			s.port = b.lacp.AddPort(uint16(i + 1))
		}
		b.slaves = append(b.slaves, s)
	}
	if !found {
		return nil, fmt.Errorf("%w: %q", ErrPrimary, cfg.Primary)
	}
	empty := []*slave{}
	b.tx.Store(&empty)
	return b, nil
}

// Name returns the bond's name.
func (b *Bond) Name() string { return b.cfg.Name }

// MAC returns the bond's MAC address.
func (b *Bond) MAC() stack.MAC { return b.cfg.MAC }

// Mode returns the bond's mode.
func (b *Bond) Mode() Mode { return b.cfg.Mode }

// SetAddrs gives the bond the addresses of the interfaces on it (read
// at each failover and ARP probe).
func (b *Bond) SetAddrs(f func() []Addr) {
	b.mu.Lock()
	b.addrs = f
	b.mu.Unlock()
}

// MTU is the smallest MTU of the slaves.
func (b *Bond) MTU() int {
	m := 0
	for _, s := range b.slaves {
		if n := s.dev.MTU(); m == 0 || n < m {
			m = n
		}
	}
	return m
}

// Attach starts delivering frames to d: it attaches every slave and
// starts the monitor.
func (b *Bond) Attach(d link.FrameDispatcher) {
	if !b.up.CompareAndSwap(nil, &d) {
		panic("bond: attached twice")
	}
	now := b.clock.Now()
	b.mu.Lock()
	for _, s := range b.slaves {
		// A slave with carrier comes up after UpDelay, as when Linux
		// enslaves it.
		s.mii = (s.carrier == nil || s.carrier()) && b.cfg.UpDelay <= 0
		if !s.mii && b.cfg.UpDelay > 0 && (s.carrier == nil || s.carrier()) {
			s.pendSince = now
		}
		s.arpUp = true // until the ARP monitor's first verdict
		s.lastRx.Store(stack.Nanos(now))
		if s.port != nil {
			b.lacp.SetEnabled(now, s.port, s.mii)
		}
	}
	b.update(now)
	b.ticks.Add(1)
	b.timer = b.clock.AfterFunc(tickEvery, b.tick)
	b.mu.Unlock()
	for _, s := range b.slaves {
		s.dev.Attach(s)
	}
	b.flush()
}

// WriteFrame sends p on the slave the mode picks. It takes ownership of
// p. With no usable slave the frame is dropped, as Linux does, and it
// returns ErrNoSlave.
func (b *Bond) WriteFrame(p *stack.Packet) error {
	tx := *b.tx.Load()
	var s *slave
	switch len(tx) {
	case 0:
		p.Release()
		return ErrNoSlave
	case 1:
		s = tx[0]
	default:
		s = tx[frameHash(b.cfg.Hash, p.Bytes())%uint32(len(tx))]
	}
	return s.write(p)
}

// ErrNoSlave is WriteFrame's error when no slave may carry frames.
var ErrNoSlave = errors.New("bond: no active slave")

// Close stops the monitor and closes every slave; it returns when their
// goroutines have ended.
func (b *Bond) Close() error {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil && b.timer.Stop() {
		b.ticks.Done()
	}
	b.mu.Unlock()
	b.ticks.Wait()
	var errs []error
	for _, s := range b.slaves {
		if err := s.dev.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// tick runs the monitor every tickEvery.
func (b *Bond) tick() {
	defer b.ticks.Done()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	now := b.clock.Now()
	b.monitor(now)
	b.ticks.Add(1)
	b.timer = b.clock.AfterFunc(tickEvery, b.tick)
	b.mu.Unlock()
	b.flush()
}

// flush sends the frames the monitor queued, outside the lock.
func (b *Bond) flush() {
	b.mu.Lock()
	ps := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, f := range ps {
		f.s.write(f.p)
	}
}

// send queues p for slave s; mu is held.
func (b *Bond) send(s *slave, p *stack.Packet) { b.pending = append(b.pending, pending{s, p}) }
