package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Who is at the other end of a control socket. Abstract unix sockets carry
// no permissions: any local user can take the name @tapstack/TAP first, or
// connect to it. So both ends ask the kernel who the other is
// (SO_PEERCRED) and believe only root or their own user:
//
//   - the CLI talks only to a server running as root or as the CLI's own
//     user, before it sends anything, so a squatter never sees a request
//     and the CLI never prints a squatter's reply;
//   - the server drops, at accept, every client that is neither root nor
//     its own user (it writes one 403 line and closes), so other users
//     cost it nothing and cannot read its tables (they may read the status
//     page over HTTP :80, where the host serves it);
//   - `tapstack up` names the uid and pid of whoever holds its socket name.

// peer is the credentials of the process at the other end of a unix
// socket: for a client, of the process that called listen on the name;
// for a server, of the process that connected.
type peer struct {
	uid uint32 // effective uid
	pid int32
}

// believed is the rule of the control socket, the same both ways: a peer
// is believed when it runs as root or as the same user as self.
func believed(peerUID, selfUID uint32) bool { return peerUID == 0 || peerUID == selfUID }

// peerOf reads SO_PEERCRED of a unix socket connection.
func peerOf(c net.Conn) (peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}, fmt.Errorf("%T is not a unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{}, err
	}
	if cerr != nil {
		return peer{}, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return peer{uid: cred.Uid, pid: cred.Pid}, nil
}

// untrustedError: the control socket is served by a process the CLI does
// not believe.
type untrustedError struct {
	addr string
	p    peer
}

// Error names the server's uid and pid.
func (e *untrustedError) Error() string {
	return fmt.Sprintf("%s is served by uid %d (pid %d), not by root or you: refusing to trust it", e.addr, e.p.uid, e.p.pid)
}

// deniedError: the host is believed but would not believe the CLI: it
// runs as root and the CLI does not (the only such case).
type deniedError struct {
	addr string
	p    peer
}

// Error says to run as root.
func (e *deniedError) Error() string {
	return fmt.Sprintf("the host on %s runs as root (pid %d) and answers only root: run this command as root", strings.TrimPrefix(e.addr, controlPrefix), e.p.pid)
}

// checkServer decides whether a CLI running as self may talk to the
// server p on addr: nil, an *untrustedError or a *deniedError.
func checkServer(addr string, p peer, self uint32) error {
	if !believed(p.uid, self) {
		return &untrustedError{addr, p}
	}
	if !believed(self, p.uid) {
		return &deniedError{addr, p}
	}
	return nil
}

// dialControl connects to the control socket addr and returns the
// connection only if the server passes checkServer.
func dialControl(ctx context.Context, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, err
	}
	p, err := peerOf(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot tell who serves %s: %v", addr, err)
	}
	if err := checkServer(addr, p, uint32(os.Geteuid())); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// holderOf tells who holds the abstract socket name addr: the process
// listening on it (SO_PEERCRED of a connection to it), or, when nobody
// accepts connections there (a name bound without listen), a process
// with the socket open (/proc/net/unix and /proc/PID/fd).
func holderOf(addr string) (peer, error) {
	c, err := net.DialTimeout("unix", addr, time.Second)
	if err == nil {
		defer c.Close()
		return peerOf(c)
	}
	inodes, ierr := socketInodes(addr)
	if ierr != nil {
		return peer{}, ierr
	}
	if len(inodes) == 0 {
		return peer{}, fmt.Errorf("cannot connect to %s (%v) and it is not in /proc/net/unix", addr, err)
	}
	return procHolder(inodes)
}

// socketInodes lists the inodes of the unix sockets named addr in this
// network namespace.
func socketInodes(addr string) (map[string]bool, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(sc.Text())
		if len(fields) >= 8 && fields[7] == addr {
			inodes[fields[6]] = true
		}
	}
	return inodes, sc.Err()
}

// procHolder finds a process with one of the socket inodes open and
// returns its pid and effective uid.
func procHolder(inodes map[string]bool) (peer, error) {
	pids, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return peer{}, err
	}
	for _, dir := range pids {
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil {
				continue
			}
			ino, ok := strings.CutPrefix(link, "socket:[")
			if !ok || !inodes[strings.TrimSuffix(ino, "]")] {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(dir))
			uid, err := procUID(dir)
			if err != nil {
				return peer{}, err
			}
			return peer{uid: uid, pid: int32(pid)}, nil
		}
	}
	return peer{}, errors.New("no process has it open (or it is not ours to see)")
}

// procUID reads the effective uid of the process at /proc/PID.
func procUID(dir string) (uint32, error) {
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				uid, err := strconv.ParseUint(f[1], 10, 32)
				return uint32(uid), err
			}
		}
	}
	return 0, fmt.Errorf("%s/status has no Uid line", dir)
}

// squattedError explains why the control socket name addr could not be
// taken: its holder, and what to do.
func squattedError(addr, tap string, lerr error) error {
	p, err := holderOf(addr)
	switch {
	case err != nil:
		return fmt.Errorf("control socket %s: %v, and its holder is unknown (%v): is another tapstack running on %s in this network namespace?", addr, lerr, err, tap)
	case believed(p.uid, uint32(os.Geteuid())):
		return fmt.Errorf("control socket %s: %v (is another tapstack running on %s in this network namespace? pid %d holds it)", addr, lerr, tap, p.pid)
	default:
		return fmt.Errorf("control socket %s is held by uid %d (pid %d), not by root or you: kill it or pick another TAP name", addr, p.uid, p.pid)
	}
}
