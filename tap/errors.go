package tap

import (
	"errors"
	"fmt"
	"syscall"
)

// Kinds of operator error Open returns; test them with errors.Is.
var (
	// ErrPermission: no permission to open /dev/net/tun or create a TAP.
	ErrPermission = errors.New("permission denied")
	// ErrNoTunDevice: /dev/net/tun is missing or the tun module is not loaded.
	ErrNoTunDevice = errors.New("no TUN/TAP support")
	// ErrBusy: another process has the TAP open.
	ErrBusy = errors.New("TAP busy")
	// ErrBadName: the interface name is too long or contains bad characters.
	ErrBadName = errors.New("bad interface name")
	// ErrNotTAP: a link with that name exists and is not a TAP.
	ErrNotTAP = errors.New("not a TAP")
	// ErrBadMTU: the MTU is out of range.
	ErrBadMTU = errors.New("bad MTU")
	// ErrBadQueues: the number of queues is out of range.
	ErrBadQueues = errors.New("bad number of queues")
	// ErrBridgeNotFound: the bridge to attach to does not exist.
	ErrBridgeNotFound = errors.New("bridge not found")
	// ErrNotBridge: the link named as the bridge is not a bridge.
	ErrNotBridge = errors.New("not a bridge")
	// ErrBadMode: an unknown Config.Mode, or a TUN with a bridge.
	ErrBadMode = errors.New("bad mode")
)

// Error is an operator error from Open: its message is one line fit to
// print as is ("bridge \"br9\" does not exist (create it: ...)"). It
// unwraps to one of the Err* kinds above and to the underlying cause
// (often a syscall.Errno), so errors.Is works with both.
type Error struct {
	msg  string
	kind error
	err  error
}

// Error returns the one-line message.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

func newError(kind, cause error, format string, args ...any) *Error {
	return &Error{msg: fmt.Sprintf(format, args...), kind: kind, err: cause}
}

// openTunError explains a failure to open /dev/net/tun.
func openTunError(err error) error {
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return newError(ErrPermission, err, "cannot open /dev/net/tun: permission denied (run as root or grant CAP_NET_ADMIN)")
	case errors.Is(err, syscall.ENOENT):
		return newError(ErrNoTunDevice, err, "cannot open /dev/net/tun: no such file (load the tun module: modprobe tun)")
	case errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return newError(ErrNoTunDevice, err, "cannot open /dev/net/tun: the kernel has no TUN/TAP driver (load it: modprobe tun)")
	}
	return fmt.Errorf("cannot open /dev/net/tun: %w", err)
}

// setIffError explains a failure of TUNSETIFF for the TAP name.
func setIffError(name string, err error) error {
	switch {
	case errors.Is(err, syscall.EBUSY):
		return newError(ErrBusy, err, "TAP %q is busy: another process has it open", name)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return newError(ErrPermission, err, "cannot create TAP %q: permission denied (run as root or grant CAP_NET_ADMIN)", name)
	case errors.Is(err, syscall.EINVAL):
		return newError(ErrNotTAP, err, "cannot open TAP %q: a link with that name exists and is not a TAP", name)
	}
	return fmt.Errorf("cannot create TAP %q: %w", name, err)
}
