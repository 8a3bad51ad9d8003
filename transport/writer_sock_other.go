//go:build !unix

package transport

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf returns nil: without the Unix write call every write takes the
// blocking path, and connections are not parked.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// sendNow is never called: without a raw connection every write blocks.
func sendNow(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

func (c *hijackedConn) rawRead(uintptr) bool { return true }
