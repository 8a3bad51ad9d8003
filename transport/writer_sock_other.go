//go:build !unix

package transport

import (
	"net"
	"syscall"
)

// rawConnOf returns nil: without the Unix write call every write takes the
// blocking path, and connections are not parked.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func (w *sockWriter) rawWrite(uintptr) {}

func (c *hijackedConn) rawRead(uintptr) bool { return true }
