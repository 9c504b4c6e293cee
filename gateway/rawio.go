package gateway

import (
	"io"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWriter writes to a kernel socket (the relay's host side) with raw
// system calls, as the TAP's reader and writer do: a write to a
// non-blocking socket never sleeps (it returns EAGAIN, and then the writer
// parks in Go's network poller until the socket is writable), so it need
// not tell the scheduler. Through package net each write enters and leaves
// a system call in the scheduler's books; a bulk write to a local socket
// runs the receiver's TCP inline for tens or hundreds of microseconds,
// long enough for sysmon to take the P away (handoffp) and to keep waking
// every 20 µs to look again, which cost the gateway some 5% of its CPU on
// upload (scripts/bench_gateway.sh, perf).
type rawWriter struct {
	rc syscall.RawConn

	// The state of one write, here so that the callback (bound once, in
	// fn) does not allocate per write.
	buf   []byte
	n     int
	err   error
	fn    func(fd uintptr) bool
	tryFn func(fd uintptr) bool
	vecFn func(fd uintptr) bool
	iov   []unix.Iovec // TryWriteBuffers' vector, kept between calls
}

// kernelSocket returns the raw connection of a kernel stream socket (TCP,
// or Unix in tests), nil for anything else (a tapstack *tcp.Conn).
func kernelSocket(c net.Conn) syscall.RawConn {
	var rc syscall.RawConn
	var err error
	switch c := c.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *net.UnixConn:
		rc, err = c.SyscallConn()
	}
	if err != nil {
		return nil
	}
	return rc
}

// writerTo returns how pipe writes to dst: raw system calls for a kernel
// socket, dst itself for anything else.
func writerTo(dst net.Conn) io.Writer {
	rc := kernelSocket(dst)
	if rc == nil {
		return dst
	}
	w := &rawWriter{rc: rc}
	w.fn = w.tryWrite
	w.tryFn = w.writeOnce
	w.vecFn = w.writevOnce
	return w
}

// Write writes all of b, or fails with the socket's error (a poller
// error when the socket was closed or its write deadline passed).
func (w *rawWriter) Write(b []byte) (int, error) {
	total := 0
	for len(b) > 0 {
		n, err := w.write(b, w.fn)
		if err != nil {
			return total, err
		}
		total += n
		b = b[n:]
	}
	return total, nil
}

// write makes one poller write of b with callback fn (tryWrite, which
// parks on EAGAIN, or writeOnce, which does not) and returns what it
// wrote or the socket's error.
func (w *rawWriter) write(b []byte, fn func(fd uintptr) bool) (int, error) {
	w.buf = b
	err := w.rc.Write(fn)
	w.buf = nil
	if err == nil {
		err = w.err
	}
	if err != nil {
		return 0, err
	}
	return w.n, nil
}

// TryWrite implements tcp.TryWriter: it writes what of b the socket
// takes now, 0 and no error when it takes nothing (EAGAIN), and never
// waits for the socket. tcp.Conn.WriteTo calls it on the goroutine that
// received the data, at the end of its batch, so an upload that the host
// socket keeps up with needs no wake-up of the relay's goroutine.
func (w *rawWriter) TryWrite(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return w.write(b, w.tryFn)
}

// TryWriteBuffers implements tcp.TryBuffersWriter: TryWrite of all of
// b's buffers, in order, in one writev system call (at most IOV_MAX of
// them: the connection hands over a TAP batch's payloads, 16 at most).
func (w *rawWriter) TryWriteBuffers(b [][]byte) (int, error) {
	w.iov = w.iov[:0]
	for _, p := range b {
		if len(p) > 0 {
			var v unix.Iovec
			v.Base = &p[0]
			v.SetLen(len(p))
			w.iov = append(w.iov, v)
		}
	}
	if len(w.iov) == 0 {
		return 0, nil
	}
	w.buf = nil
	err := w.rc.Write(w.vecFn)
	clear(w.iov) // no references to the buffers stay behind
	if err == nil {
		err = w.err
	}
	if err != nil {
		return 0, err
	}
	return w.n, nil
}

// writevOnce is TryWriteBuffers' callback: writeOnce with w.iov.
func (w *rawWriter) writevOnce(fd uintptr) bool {
	w.n, _, w.err = rawCallPtr(unix.SYS_WRITEV, fd, unsafe.Pointer(&w.iov[0]), len(w.iov))
	return true
}

// writeOnce is TryWrite's callback: it writes what it can of w.buf and
// reports true even on EAGAIN (w.n is then 0), so the poller never parks.
func (w *rawWriter) writeOnce(fd uintptr) bool {
	w.n, _, w.err = rawCall(unix.SYS_WRITE, fd, w.buf)
	return true
}

// tryWrite is the poller's callback: it writes what it can of w.buf and
// reports true, or reports false (park until writable) on EAGAIN.
func (w *rawWriter) tryWrite(fd uintptr) bool {
	done := false
	w.n, done, w.err = rawCall(unix.SYS_WRITE, fd, w.buf)
	return done
}

// rawCall makes the read or write system call trap on fd with b, again
// after EINTR; done is false on EAGAIN (the poller parks the caller).
func rawCall(trap, fd uintptr, b []byte) (n int, done bool, err error) {
	return rawCallPtr(trap, fd, unsafe.Pointer(&b[0]), len(b))
}

// rawCallPtr is rawCall with the system call's buffer (or iovec array,
// for writev) and its length given as they are passed.
func rawCallPtr(trap, fd uintptr, p unsafe.Pointer, n int) (int, bool, error) {
	for {
		r, _, e := unix.RawSyscall(trap, fd, uintptr(p), uintptr(n))
		switch e {
		case 0:
			return int(r), true, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, false, nil
		default:
			return 0, true, e
		}
	}
}

// rawReader reads from a kernel socket with raw system calls, for the
// same reasons as rawWriter: a bulk read from a local socket copies up to
// a MiB and, through package net, keeps sysmon busy.
type rawReader struct {
	rc syscall.RawConn

	buf []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// readerFrom returns how pipe reads from src: raw system calls for a
// kernel socket, src itself for anything else.
func readerFrom(src net.Conn) io.Reader {
	rc := kernelSocket(src)
	if rc == nil {
		return src
	}
	r := &rawReader{rc: rc}
	r.fn = r.tryRead
	return r
}

// Read reads what the socket holds into b, waiting until it holds
// something; it returns io.EOF after the peer's FIN.
func (r *rawReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.buf = b
	err := r.rc.Read(r.fn)
	r.buf = nil
	if err == nil {
		err = r.err
	}
	if err != nil {
		return 0, err
	}
	if r.n == 0 {
		return 0, io.EOF
	}
	return r.n, nil
}

// tryRead is the poller's callback: it reads into r.buf and reports true,
// or reports false (park until readable) on EAGAIN.
func (r *rawReader) tryRead(fd uintptr) bool {
	done := false
	r.n, done, r.err = rawCall(unix.SYS_READ, fd, r.buf)
	return done
}
