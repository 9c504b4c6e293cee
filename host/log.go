package host

import (
	"log/slog"

	"github.com/tapstack/tapstack/dhcp"
)

// quiet is the logger of a host whose Config.Logger is nil: a library
// says nothing unless asked.
var quiet = slog.New(slog.DiscardHandler)

// Logger returns the host's logger (Config.Logger, or one that discards
// everything).
func (h *Host) Logger() *slog.Logger { return h.log }

// logDHCP makes the DHCP client's lease changes log lines: bound (at
// info), lost (at warn) or released by Close (at info), before opts' own
// callbacks.
func (h *Host) logDHCP(nic string, opts *dhcp.Options) {
	bound, unbound := opts.OnBound, opts.OnUnbound
	opts.OnBound = func(l dhcp.Lease) {
		h.log.Info("dhcp lease bound", "nic", nic, "addr", l.Addr, "router", l.Router,
			"server", l.Server, "dns", l.DNS, "lease", l.LeaseTime.String(), "renew_at", l.RenewAt())
		if bound != nil {
			bound(l)
		}
	}
	opts.OnUnbound = func(l dhcp.Lease) {
		if h.closing.Load() {
			h.log.Info("dhcp lease released", "nic", nic, "addr", l.Addr, "server", l.Server)
		} else {
			h.log.Warn("dhcp lease lost", "nic", nic, "addr", l.Addr, "server", l.Server)
		}
		if unbound != nil {
			unbound(l)
		}
	}
}
