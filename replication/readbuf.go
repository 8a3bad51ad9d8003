package replication

import (
	"bufio"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// readBufferBytes is the read buffer under the replication connection's
// protocol reader. pgproto3 reads into 8 KB on its own, so a stream that
// arrives faster than it is read cost one read syscall per 8 KB; with
// this buffer one read takes up to its size from the socket.
const readBufferBytes = 256 << 10

// readBuffer is the buffered reader under the replication connection's
// frontend. The loop asks it whether more has arrived than was parsed
// (buffered) to decide when to hand a batch over, without a read that
// could wait.
type readBuffer struct {
	r  *bufio.Reader
	fe *pgproto3.Frontend
}

// install makes cfg's connections read through b.
func (b *readBuffer) install(cfg *pgconn.Config) {
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		b.r = bufio.NewReaderSize(r, readBufferBytes)
		b.fe = pgproto3.NewFrontend(b.r, w)
		return b.fe
	}
}

// buffered reports whether bytes that arrived are still unparsed: in the
// frontend's own buffer, or in b's. They may be the start of a message
// whose rest is still on its way, which the server sends without waiting
// for us.
func (b *readBuffer) buffered() bool {
	if b == nil {
		return false
	}
	return b.fe != nil && b.fe.ReadBufferLen() > 0 || b.r != nil && b.r.Buffered() > 0
}
