package integration

import (
	"context"
	be "encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/internal/checksum"
)

// The four attacks of issue 13, acceptance 2, from kernel sockets in the
// test's namespace (and, for the window edges, frames crafted on the
// bridge). Every loop is bounded by the attack's deadline.

const (
	// attackRcvBuf is SO_RCVBUF of the clients that never read, so the
	// kernel does not absorb what the server sends (Linux doubles it).
	attackRcvBuf = 4096
	dialWorkers  = 32
	// TCP_REPAIR_QUEUE values (linux/tcp.h; not in x/sys/unix).
	tcpRecvQueue = 1
	tcpSendQueue = 2
	// tcpEstablished is TCP_ESTABLISHED, tcpi_state of an open connection.
	tcpEstablished = 1
)

// attackChargen: 1,000 chargen clients that never read. The server fills
// each client's tiny window, then its own send buffer, and waits.
func attackChargen(e *attackEnv) *attackLoad {
	const n = 1000
	conns, failed, err := dialMany(e, 19, n, attackRcvBuf, nil)
	a := &attackLoad{conns: conns, opened: len(conns)}
	a.note = fmt.Sprintf("%d chargen clients that never read (SO_RCVBUF %d): %d refused or failed (%v)", n, attackRcvBuf, failed, err)
	// In place: chargen's data waits in the client's receive queue (so the
	// server has filled the window and writes into its send buffer), or
	// the server closed the connection.
	a.inPlace = waitInPlace(e, conns, func(i int) bool {
		st, inq, _, err := sockQueues(conns[i])
		return err != nil || st != tcpEstablished || inq > 0
	})
	return a
}

// attackHeaderLines: 300 connections to :80 that each send a request line
// and then one header line of a million bytes without its newline.
func attackHeaderLines(e *attackEnv) *attackLoad {
	const n = 300
	req := append([]byte("GET / HTTP/1.1\r\nHost: "+hostAddr+"\r\nX: "), strings.Repeat("a", 1000000)...)
	a := attackWriters(e, 80, n, req)
	a.note = fmt.Sprintf("%d connections to :80 each sending a %d-byte request whose last header line (1,000,000 bytes) never ends; %s", n, len(req), a.note)
	return a
}

// attackEcho: 500 echo clients that each send 1 MiB and never read: the
// server's send buffer fills, then its receive buffer.
func attackEcho(e *attackEnv) *attackLoad {
	const n = 500
	a := attackWriters(e, 7, n, make([]byte, 1<<20))
	a.note = fmt.Sprintf("%d echo clients each sending 1 MiB and never reading; %s", n, a.note)
	return a
}

// attackWriters opens n never-reading connections to port and writes data
// on each, writerBatch connections at a time (500 senders at once overflow
// the TAP's queue, and the retransmission backoff that follows would leave
// most loads unfinished). A connection's load is in place when the server
// has taken all of data (nothing left unacknowledged), closed its window
// to less than a segment (what it holds is all it will take), or closed
// the connection, or stopped acknowledging what it is sent (the kernel has
// timed out twice in a row: the stack drops the data it is sent).
func attackWriters(e *attackEnv, port, n int, data []byte) *attackLoad {
	const writerBatch = 25
	conns, failed, err := dialMany(e, port, n, attackRcvBuf, nil)
	a := &attackLoad{conns: conns, opened: len(conns)}
	wrote := make([]atomic.Bool, len(conns))
	var wg sync.WaitGroup
	a.stop = wg.Wait // the writes end when the conns close, or at the deadline
	loaded := func(i int) bool {
		st, _, outq, err := sockQueues(conns[i])
		if err != nil || st != tcpEstablished {
			return true
		}
		info, err := tcpInfo(conns[i])
		return err != nil || info.Snd_wnd < info.Snd_mss || info.Backoff >= 2 || wrote[i].Load() && outq == 0
	}
	for lo := 0; lo < len(conns); lo += writerBatch {
		batch := conns[lo:min(lo+writerBatch, len(conns))]
		for j, c := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.SetWriteDeadline(e.deadline)
				if _, err := c.Write(data); err == nil {
					wrote[lo+j].Store(true)
				}
			}()
		}
		a.inPlace += waitInPlace(e, batch, func(j int) bool { return loaded(lo + j) })
	}
	written := 0
	for i := range wrote {
		if wrote[i].Load() {
			written++
		}
	}
	a.note = fmt.Sprintf("%d refused or failed (%v), %d wrote everything", failed, err, written)
	return a
}

// attackWindowEdge: 2,000 echo connections, each sent one byte (echoed
// back, so the stack has advertised its scaled window), then one crafted
// 1-byte segment at the last sequence number of the advertised window:
// rcv_nxt + window − 1. The sequence numbers come from the Linux socket
// (TCP_REPAIR's TCP_QUEUE_SEQ, and tcpi_snd_wnd); the frames are written
// on the bridge with an AF_PACKET socket. Timestamps are off in the
// namespace, so a segment without them is valid under any policy.
func attackWindowEdge(e *attackEnv) *attackLoad {
	const n = 2000
	if out, err := e.ns.Output("sysctl", "-qw", "net.ipv4.tcp_timestamps=0"); err != nil {
		e.t.Fatalf("sysctl in the test namespace: %v: %s", err, out)
	}
	var mu sync.Mutex
	edges := map[*net.TCPConn]edgeTarget{}
	conns, failed, err := dialMany(e, 7, n, 0, func(c *net.TCPConn) error {
		c.SetDeadline(e.deadline)
		if _, err := c.Write([]byte{'x'}); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			return fmt.Errorf("reading the echo: %w", err)
		}
		c.SetDeadline(time.Time{})
		s, err := readEdge(c)
		if err != nil {
			return err
		}
		mu.Lock()
		edges[c] = s
		mu.Unlock()
		return nil
	})
	a := &attackLoad{conns: conns, opened: len(conns)}
	targets := make([]edgeTarget, 0, len(conns))
	var wnd uint32
	for _, c := range conns {
		targets = append(targets, edges[c])
		wnd = max(wnd, edges[c].sndWnd)
	}
	before := stackStatus(e)
	sent, injErr := injectEdges(e, targets, counter(before, "tcp.rx.segments"))
	after := stackStatus(e)
	a.inPlace = int(min(int64(sent), counter(after, "tcp.rx.segments")-counter(before, "tcp.rx.segments")))
	a.note = fmt.Sprintf("%d echo connections (%d refused or failed: %v), window up to %d KiB; %d one-byte segments at rcv_nxt+window-1 injected (%v): tcp.rx.segments +%d, tcp.rx.out_of_order +%d",
		n, failed, err, wnd>>10, sent, injErr,
		counter(after, "tcp.rx.segments")-counter(before, "tcp.rx.segments"),
		counter(after, "tcp.rx.out_of_order")-counter(before, "tcp.rx.out_of_order"))
	return a
}

// edgeTarget is what a crafted segment into one connection needs.
type edgeTarget struct {
	lport          uint16
	sndNxt, rcvNxt uint32 // the Linux socket's: the stack's rcv_nxt and snd_nxt
	sndWnd         uint32 // the stack's window, as Linux last heard it
}

// readEdge reads a quiet connection's sequence numbers in repair mode
// (CAP_NET_ADMIN) and leaves repair mode without a window probe.
func readEdge(c *net.TCPConn) (edgeTarget, error) {
	s := edgeTarget{lport: uint16(c.LocalAddr().(*net.TCPAddr).Port)}
	info, err := tcpInfo(c)
	if err != nil {
		return s, err
	}
	if s.sndWnd = info.Snd_wnd; s.sndWnd < 2 {
		return s, fmt.Errorf("tcpi_snd_wnd %d (a kernel before 6.2 does not report it)", s.sndWnd)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return s, err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		f := int(fd)
		if serr = unix.SetsockoptInt(f, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_ON); serr != nil {
			serr = fmt.Errorf("TCP_REPAIR: %w", serr)
			return
		}
		defer func() {
			if err := unix.SetsockoptInt(f, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF_NO_WP); err != nil && serr == nil {
				serr = fmt.Errorf("leaving TCP_REPAIR: %w", err)
			}
		}()
		for _, q := range []struct {
			queue int
			seq   *uint32
		}{{tcpSendQueue, &s.sndNxt}, {tcpRecvQueue, &s.rcvNxt}} {
			if serr = unix.SetsockoptInt(f, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, q.queue); serr != nil {
				return
			}
			v, err := unix.GetsockoptInt(f, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ)
			if err != nil {
				serr = err
				return
			}
			*q.seq = uint32(v)
		}
	})
	if err == nil {
		err = serr
	}
	return s, err
}

// injectEdges writes one crafted segment per target on br0, in batches,
// waiting (bounded) after each batch until the stack has counted the
// segments, so the TAP's queue never overflows. It returns how many it sent.
func injectEdges(e *attackEnv, targets []edgeTarget, rxBefore int64) (int, error) {
	var fd int
	var src net.HardwareAddr
	if err := e.ns.Run(func() error {
		br, err := net.InterfaceByName("br0")
		if err != nil {
			return err
		}
		src = br.HardwareAddr
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: br.Index})
	}); err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	dst, _ := net.ParseMAC(attackMAC)
	const batch = 200
	sent := 0
	for i, s := range targets {
		if err := unix.Send(fd, edgeFrame(dst, src, s), 0); err != nil {
			return sent, err
		}
		sent++
		if sent%batch == 0 || i == len(targets)-1 {
			if !poll(time.Until(e.deadline), func() bool {
				return counter(stackStatus(e), "tcp.rx.segments")-rxBefore >= int64(sent)
			}) {
				return sent, fmt.Errorf("the stack counted fewer than the %d segments sent by the deadline", sent)
			}
		}
	}
	return sent, nil
}

// edgeFrame is an Ethernet frame from the bridge (10.0.0.1) to the stack
// carrying one byte at the last sequence number of s's window.
func edgeFrame(dst, src net.HardwareAddr, s edgeTarget) []byte {
	f := make([]byte, 14+20+20+1)
	copy(f[0:], dst)
	copy(f[6:], src)
	be.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	be.BigEndian.PutUint16(ip[2:], 41)
	be.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 6
	from, to := netip.MustParseAddr(bridgeAddr), netip.MustParseAddr(hostAddr)
	copy(ip[12:], from.AsSlice())
	copy(ip[16:], to.AsSlice())
	be.BigEndian.PutUint16(ip[10:], checksum.Checksum(ip, 0))
	seg := f[34:]
	be.BigEndian.PutUint16(seg[0:], s.lport)
	be.BigEndian.PutUint16(seg[2:], 7)
	be.BigEndian.PutUint32(seg[4:], s.sndNxt+s.sndWnd-1)
	be.BigEndian.PutUint32(seg[8:], s.rcvNxt)
	seg[12] = 5 << 4
	seg[13] = 0x18 // PSH, ACK
	be.BigEndian.PutUint16(seg[14:], 0xffff)
	seg[20] = 'x'
	be.BigEndian.PutUint16(seg[16:], checksum.Checksum(seg, checksum.PseudoHeader(from, to, 6, uint16(len(seg)))))
	return f
}

// stackStatus is `tapstack status` in the attack's namespace.
func stackStatus(e *attackEnv) string {
	out, err := e.ns.Output(binary(e.t), "status")
	if err != nil {
		e.t.Logf("tapstack status: %v", err)
	}
	return out
}

// dialMany opens n connections to the stack's port from the Linux side
// (dialWorkers at a time, by the attack's deadline), with SO_RCVBUF
// rcvBuf (0: the default) and then prep on each, if given. A connection
// that fails prep is closed and counted as failed; err is the first error.
func dialMany(e *attackEnv, port, n, rcvBuf int, prep func(*net.TCPConn) error) (conns []*net.TCPConn, failed int, err error) {
	ctx, cancel := context.WithDeadline(context.Background(), e.deadline)
	defer cancel()
	d := &net.Dialer{KeepAlive: -1}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	addr := fmt.Sprintf("%s:%d", hostAddr, port)
	var mu sync.Mutex
	note := func(c *net.TCPConn, cerr error) {
		mu.Lock()
		defer mu.Unlock()
		if cerr != nil {
			failed++
			if err == nil {
				err = cerr
			}
			return
		}
		conns = append(conns, c)
	}
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range dialWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rerr := e.ns.Run(func() error { // sockets made on this thread belong to ns
				for range jobs {
					c, err := d.DialContext(ctx, "tcp4", addr)
					if err != nil {
						note(nil, err)
						continue
					}
					tc := c.(*net.TCPConn)
					if prep != nil {
						if err := prep(tc); err != nil {
							tc.Close()
							note(nil, err)
							continue
						}
					}
					note(tc, nil)
				}
				return nil
			})
			if rerr != nil {
				for range jobs {
					note(nil, rerr)
				}
			}
		}()
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if len(conns) == 0 {
		e.t.Fatalf("no attack connection to %s could be opened: %v", addr, err)
	}
	return conns, failed, err
}

// waitInPlace polls (by the attack's deadline) until loaded(i) holds for
// every connection, and returns for how many it held.
func waitInPlace(e *attackEnv, conns []*net.TCPConn, loaded func(i int) bool) int {
	done := make([]bool, len(conns))
	count := 0
	poll(time.Until(e.deadline), func() bool {
		for i := range conns {
			if !done[i] && loaded(i) {
				done[i] = true
				count++
			}
		}
		return count == len(conns)
	})
	return count
}

// sockQueues returns a socket's TCP state and the bytes in its receive
// queue and its send queue (not yet acknowledged).
func sockQueues(c *net.TCPConn) (state uint8, inq, outq int, err error) {
	info, err := tcpInfo(c)
	if err != nil {
		return 0, 0, 0, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, 0, err
	}
	var ierr, oerr error
	if err := rc.Control(func(fd uintptr) {
		inq, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		outq, oerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil {
		return 0, 0, 0, err
	}
	if ierr != nil {
		return 0, 0, 0, ierr
	}
	return info.State, inq, outq, oerr
}

func tcpInfo(c *net.TCPConn) (*unix.TCPInfo, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return nil, err
	}
	return info, ierr
}
