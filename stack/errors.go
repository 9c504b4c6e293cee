package stack

import "syscall"

// Error is a stack error that unwraps to the matching errno, so callers can
// test errors.Is(err, syscall.ECONNREFUSED) as they would with the kernel.
type Error struct {
	msg   string
	errno syscall.Errno
}

// Error returns the message.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.errno }

// NewError returns an Error with the given message that unwraps to errno.
func NewError(msg string, errno syscall.Errno) *Error { return &Error{msg, errno} }

// Errors shared by the layers.
var (
	ErrNoRoute           = NewError("no route to network", syscall.ENETUNREACH)
	ErrHostUnreachable   = NewError("no route to host", syscall.EHOSTUNREACH)
	ErrClosed            = NewError("endpoint is closed", syscall.EBADF)
	ErrNoBufferSpace     = NewError("no buffer space available", syscall.ENOBUFS)
	ErrMessageTooLong    = NewError("message too long", syscall.EMSGSIZE)
	ErrAddressInUse      = NewError("address already in use", syscall.EADDRINUSE)
	ErrAddressNotLocal   = NewError("cannot assign requested address", syscall.EADDRNOTAVAIL)
	ErrConnectionRefused = NewError("connection refused", syscall.ECONNREFUSED)
	ErrConnectionReset   = NewError("connection reset by peer", syscall.ECONNRESET)
	ErrTimedOut          = NewError("connection timed out", syscall.ETIMEDOUT)
	ErrInvalid           = NewError("invalid argument", syscall.EINVAL)
	ErrNotConnected      = NewError("transport endpoint is not connected", syscall.ENOTCONN)
	ErrNoProtocol        = NewError("protocol not registered with the stack", syscall.EPROTONOSUPPORT)
)
