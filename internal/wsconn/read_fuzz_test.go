package wsconn

import (
	"io"
	"net"
	"testing"
	"time"
	"unicode/utf8"
)

// recorder is a Handler that checks what the reader hands it.
type recorder struct {
	t    *testing.T
	max  int
	msgs int
	end  chan error
}

func (r *recorder) HandleMessage(bin bool, data []byte) {
	r.msgs++
	if len(data) > r.max {
		r.t.Errorf("message of %d bytes over the limit %d", len(data), r.max)
	}
	if !bin && !utf8.Valid(data) {
		r.t.Errorf("text message %q is not UTF-8", data)
	}
}

func (r *recorder) HandleEnd(err error) { r.end <- err }

// pipeConn readies a Conn over one end of a net.Pipe, as Accept would, and
// returns the other end.
func pipeConn(h *Host, handler Handler) (*Conn, net.Conn) {
	server, client := net.Pipe()
	c := &Conn{host: h, handler: handler, id: h.nextID.Add(1)}
	c.q.Init(h.opts.QueueBytes)
	c.sock.init(server, h.opts.WriteTimeout, false)
	return c, client
}

// FuzzReader feeds arbitrary client bytes to a connection's read path: it
// must never panic, hang or hand the handler a message over the limit or a
// text message that is not UTF-8, and must end once the client hangs up.
func FuzzReader(f *testing.F) {
	seeds := [][]rawFrame{
		{text("hello")},
		{binMsg("\x00\x01")},
		{{b0: opText, payload: []byte("a")}, {b0: fin | opPing, payload: []byte("p")}, {b0: fin | opContinuation, payload: []byte("b")}},
		{{b0: fin | opClose, payload: closeFrame(1000, "bye")}},
		{{b0: fin | opText, payload: []byte("x"), unmasked: true}},
		{{b0: fin | rsv1 | opText}},
		{{b0: fin | opPing, payload: make([]byte, 126)}},
		{text("caf\xc3")},
		{binMsg(string(make([]byte, 300)))},
		{{b0: fin | opText, payload: []byte("x"), len64: true}},
	}
	for _, frames := range seeds {
		var b []byte
		for _, fr := range frames {
			b = append(b, fr.bytes()...)
		}
		f.Add(b)
	}
	h := NewHost(Options{MaxMessageBytes: 256, WriteTimeout: time.Second})
	defer h.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := &recorder{t: t, max: 256, end: make(chan error, 1)}
		c, client := pipeConn(h, rec)
		go io.Copy(io.Discard, client) // whatever the server answers
		c.Start()
		go func() {
			client.Write(data)
			client.Close()
		}()
		select {
		case <-rec.end:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not end after the client hung up")
		}
	})
}
