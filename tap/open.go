package tap

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// errNoOffload wraps the kernel's refusal of IFF_VNET_HDR or of an offload.
var errNoOffload = errors.New("offload refused")

// setOffloads sets the 12-byte virtio-net header and asks for CSUM, TSO4
// and TSO6 on a TAP or TUN opened with IFF_VNET_HDR.
func setOffloads(fd int) error {
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, VirtioNetHeaderLen); err != nil {
		return fmt.Errorf("%w: TUNSETVNETHDRSZ: %v", errNoOffload, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6); err != nil {
		return fmt.Errorf("%w: TUNSETOFFLOAD CSUM|TSO4|TSO6: %v", errNoOffload, err)
	}
	return nil
}

// checkName rejects names the kernel would refuse (dev_valid_name).
func checkName(name string) error {
	switch {
	case len(name) >= unix.IFNAMSIZ:
		return newError(ErrBadName, nil, "interface name %q is too long (%d bytes, at most %d)", name, len(name), unix.IFNAMSIZ-1)
	case name == "." || name == "..":
		return newError(ErrBadName, nil, "interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/: \t\n\r\v\f\x00"):
		return newError(ErrBadName, nil, "interface name %q contains '/', ':' or white space", name)
	}
	return nil
}

// findBridge returns the bridge called name, or an operator error.
func findBridge(nl *netlink.Handle, name string) (netlink.Link, error) {
	l, err := nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) {
			return nil, newError(ErrBridgeNotFound, err, "bridge %q does not exist (create it: ip link add %s type bridge && ip link set %s up)", name, name, name)
		}
		return nil, fmt.Errorf("cannot look up bridge %q: %w", name, err)
	}
	if l.Type() != "bridge" {
		return nil, newError(ErrNotBridge, nil, "link %q exists but is not a bridge (type %s)", name, l.Type())
	}
	return l, nil
}

// openQueues opens n queues of the TAP name (a multiqueue TAP when n > 1;
// one queue when the kernel refuses multiqueue) and returns their files
// and the interface's name.
func openQueues(name string, flags uint16, n int, setup func(fd int) error) ([]*os.File, string, error) {
	if n > 1 {
		f, got, err := openTAP(name, flags|unix.IFF_MULTI_QUEUE, setup)
		if err == nil {
			files := []*os.File{f}
			for len(files) < n {
				f, _, err := openTAP(got, flags|unix.IFF_MULTI_QUEUE, setup)
				if err != nil {
					closeAll(files)
					return nil, "", err
				}
				files = append(files, f)
			}
			return files, got, nil
		}
		// The kernel refused multiqueue (an existing single-queue TAP
		// answers EINVAL): try one queue, which reports any error that
		// is not about queues.
	}
	f, got, err := openTAP(name, flags, setup)
	if err != nil {
		return nil, "", err
	}
	return []*os.File{f}, got, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// openTAP opens /dev/net/tun and attaches the descriptor to the TAP name
// with the given IFF_* flags, then runs setup (if not nil) on the
// descriptor. It returns a pollable file and the interface's name. A
// refusal of IFF_VNET_HDR is reported wrapping errNoOffload.
func openTAP(name string, flags uint16, setup func(fd int) error) (*os.File, string, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", openTunError(err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, "", newError(ErrBadName, err, "interface name %q: %v", name, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if flags&unix.IFF_VNET_HDR != 0 && errors.Is(err, syscall.EINVAL) {
			return nil, "", fmt.Errorf("%w: TUNSETIFF IFF_VNET_HDR: %v", errNoOffload, err)
		}
		return nil, "", setIffError(name, err)
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			unix.Close(fd)
			return nil, "", err
		}
	}
	// The descriptor is non-blocking, so os.NewFile registers it with the
	// runtime poller: Read parks the goroutine, Close wakes it.
	return os.NewFile(uintptr(fd), "/dev/net/tun"), ifr.Name(), nil
}

// setUp sets the TAP's MTU, attaches it to bridge and brings it up.
func setUp(nl *netlink.Handle, name string, mtu int, bridge netlink.Link) error {
	l, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("cannot find TAP %q after creating it: %w", name, err)
	}
	if err := nl.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("cannot set MTU %d on %q: %w", mtu, name, err)
	}
	if bridge != nil {
		if err := nl.LinkSetMasterByIndex(l, bridge.Attrs().Index); err != nil {
			return fmt.Errorf("cannot attach %q to bridge %q: %w", name, bridge.Attrs().Name, err)
		}
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("cannot bring %q up: %w", name, err)
	}
	return nil
}
