package wsconn

import (
	"errors"
	"fmt"
)

// StatusCode is a close frame's status code (RFC 6455 §7.4).
type StatusCode uint16

// The close codes this package sends or checks.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002 // a frame broke RFC 6455
	StatusInvalidPayload  StatusCode = 1007 // a text message or close reason that is not UTF-8
	StatusMessageTooBig   StatusCode = 1009 // a message over Options.MaxMessageBytes
	StatusServiceRestart  StatusCode = 1012
	StatusSlowConsumer    StatusCode = 4000 // the outbound queue overflowed (Conn.Send)
	StatusIdleTimeout     StatusCode = 4001 // no data message for Options.IdleTimeout
	statusNoStatus        StatusCode = 1005 // never on the wire: a close frame without a code
	statusAbnormalClosure StatusCode = 1006 // never on the wire
)

// validOnWire reports whether a peer may send code in a close frame: the
// codes RFC 6455 and the IANA registry define (1000-1003, 1007-1014) and
// the ranges for libraries and applications (3000-4999).
func (code StatusCode) validOnWire() bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// CloseError is how a connection ended with a close frame: the code and
// reason of the peer's close frame (Received) or of the one sent first by
// this side.
type CloseError struct {
	Code     StatusCode
	Reason   string
	Received bool // the peer closed first
}

func (e *CloseError) Error() string {
	who := "sent"
	if e.Received {
		who = "received"
	}
	if e.Code == statusNoStatus {
		return "websocket: close frame without a status " + who
	}
	return fmt.Sprintf("websocket: close %d %q %s", e.Code, e.Reason, who)
}

// CloseStatus returns the close code in err's chain, or 0 when the
// connection did not end with a close frame.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
