//go:build !unix

package wsconn

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf returns nil: without the Unix calls every write takes the
// blocking path and every read is a net.Conn read.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// sendNow is never called: without a raw connection every write blocks.
func sendNow(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

// sendvNow is never called either.
func sendvNow(int, [][]byte) (int, error) { return 0, errors.ErrUnsupported }

// rawRead is never called: without a raw connection every read is a
// net.Conn read.
func (s *sock) rawRead(uintptr) bool { return true }
