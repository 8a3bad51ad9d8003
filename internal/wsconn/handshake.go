package wsconn

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// HandshakeError is a refused upgrade request; Accept has answered it with
// Status.
type HandshakeError struct {
	Status int
	Reason string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake refused (%d): %s", e.Status, e.Reason)
}

// Accept completes the WebSocket handshake of r (RFC 6455 §4.2) and
// readies c, a zero Conn that must not move afterwards, to call handler.
// A request that is not a valid upgrade is answered (405, 426 with
// Sec-WebSocket-Version: 13, 400, or 403 from Options.CheckOrigin) and
// refused with a *HandshakeError. On success the connection is taken over
// from net/http, whose buffers are dropped; bytes the client sent past the
// request are kept for the first read. The caller then calls c.Start.
// No subprotocol or extension is negotiated.
func (h *Host) Accept(w http.ResponseWriter, r *http.Request, c *Conn, handler Handler) error {
	key, herr := checkUpgrade(r)
	if herr == nil && h.opts.CheckOrigin != nil && !h.opts.CheckOrigin(r) {
		herr = &HandshakeError{http.StatusForbidden, "origin not allowed"}
	}
	if herr != nil {
		switch herr.Status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodGet)
		case http.StatusUpgradeRequired:
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, "websocket: "+herr.Reason, herr.Status)
		return herr
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: this connection cannot be upgraded", http.StatusInternalServerError)
		return fmt.Errorf("websocket upgrade: %w", err)
	}
	var pending []byte
	if n := brw.Reader.Buffered(); n > 0 {
		pending, _ = brw.Reader.Peek(n)
	}
	// net/http may have left deadlines (ReadTimeout, ReadHeaderTimeout).
	if err := nc.SetDeadline(time.Time{}); err != nil {
		nc.Close()
		return fmt.Errorf("websocket upgrade: %w", err)
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(key) + "\r\n\r\n"
	nc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	if _, err := nc.Write([]byte(resp)); err != nil {
		nc.Close()
		return fmt.Errorf("websocket upgrade: %w", err)
	}
	nc.SetWriteDeadline(time.Time{})

	c.init(h, nc, pending, handler, h.opts.QueueBytes)
	return nil
}

// init readies a zero Conn on nc, with the bytes read past the request.
func (c *Conn) init(h *Host, nc net.Conn, pending []byte, handler Handler, queueBytes int) {
	c.host, c.handler, c.id = h, handler, h.nextID.Add(1)
	c.q.Init(queueBytes)
	c.sock.init(nc, h.opts.WriteTimeout, h.opts.RawIO)
	if len(pending) > 0 {
		// net/http's 4 KiB reader and writer are dropped here and
		// collected; the bytes it read ahead are copied.
		if len(pending) <= readBufSize {
			c.rd.room()
		} else {
			c.rd.buf = make([]byte, len(pending))
		}
		c.rd.w = copy(c.rd.buf, pending)
	}
}

// checkUpgrade validates an upgrade request and returns its key.
func checkUpgrade(r *http.Request) (string, *HandshakeError) {
	switch {
	case r.Method != http.MethodGet:
		return "", &HandshakeError{http.StatusMethodNotAllowed, "the upgrade request must be a GET"}
	case !r.ProtoAtLeast(1, 1):
		return "", &HandshakeError{http.StatusBadRequest, "the upgrade request must be HTTP/1.1"}
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return "", &HandshakeError{http.StatusUpgradeRequired, `the Connection header must contain "Upgrade"`}
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return "", &HandshakeError{http.StatusUpgradeRequired, `the Upgrade header must contain "websocket"`}
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "", &HandshakeError{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version: only 13 is"}
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return "", &HandshakeError{http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64"}
	}
	return key, nil
}

// headerHasToken reports whether a comma-separated header contains token
// (case-insensitively).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey is the Sec-WebSocket-Accept value for key (§4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}
