package tcp

import (
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

var (
	errProtocolUnreachable = stack.NewError("protocol not available", syscall.ENOPROTOOPT)
	errBrokenPipe          = stack.NewError("broken pipe", syscall.EPIPE)
	errNoTCP               = stack.NewError("tcp: protocol not registered with the stack (call tcp.Register)", syscall.EPROTONOSUPPORT)
	errNoPorts             = stack.NewError("tcp: no ephemeral port available", syscall.EADDRNOTAVAIL)
)
