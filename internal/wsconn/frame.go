package wsconn

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/walcast/walcast/broadcast"
)

// Opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxControlPayload is the largest payload of a control frame (§5.5).
const maxControlPayload = 125

// header is a parsed client frame header.
type header struct {
	fin    bool
	op     byte
	masked bool
	key    [4]byte
	n      int // payload length
	size   int // header length
}

// parseHeader parses the frame header at the start of b. It returns the
// header, or (when b is too short) the number of bytes the header needs,
// or a protocol error. Lengths are checked against limit (the room left in
// the message for a data frame) before any payload is read, so that a
// hostile length never makes the reader allocate.
func parseHeader(b []byte, limit int) (h header, need int, err *CloseError) {
	if len(b) < 2 {
		return h, 2, nil
	}
	b0, b1 := b[0], b[1]
	h.fin, h.op, h.masked = b0&0x80 != 0, b0&0x0f, b1&0x80 != 0
	if b0&0x70 != 0 {
		// No extension was negotiated, so no reserved bit may be set.
		return h, 0, protocolError("reserved bits set")
	}
	switch h.op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		return h, 0, protocolError("reserved opcode")
	}
	if !h.masked {
		return h, 0, protocolError("client frame not masked")
	}
	size := 2 + 4
	n := uint64(b1 & 0x7f)
	switch n {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if len(b) < size {
		return h, size, nil
	}
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		n = binary.BigEndian.Uint64(b[2:])
		if n>>63 != 0 {
			return h, 0, protocolError("payload length with the high bit set")
		}
	}
	if h.op >= opClose {
		if !h.fin {
			return h, 0, protocolError("fragmented control frame")
		}
		if n > maxControlPayload {
			return h, 0, protocolError("control frame over 125 bytes")
		}
	} else if n > uint64(max(limit, 0)) {
		return h, 0, &CloseError{Code: StatusMessageTooBig, Reason: "message too big"}
	}
	copy(h.key[:], b[size-4:size])
	h.n, h.size = int(n), size
	return h, 0, nil
}

func protocolError(reason string) *CloseError {
	return &CloseError{Code: StatusProtocolError, Reason: reason}
}

// unmask XORs p with key, the bytes at offset pos of the frame's payload.
func unmask(p []byte, key [4]byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		v := binary.LittleEndian.Uint64(p[i:])
		binary.LittleEndian.PutUint64(p[i:], v^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// parseClose reads a close frame's payload: no code (1005), or a code the
// peer may send and a UTF-8 reason.
func parseClose(p []byte) (StatusCode, string, *CloseError) {
	switch {
	case len(p) == 0:
		return statusNoStatus, "", nil
	case len(p) == 1:
		return 0, "", protocolError("close frame of one byte")
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.validOnWire() {
		return 0, "", protocolError("invalid close code")
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", &CloseError{Code: StatusInvalidPayload, Reason: "close reason is not UTF-8"}
	}
	return code, string(p[2:]), nil
}

// maxFrameHeader is the longest header of an unmasked frame.
const maxFrameHeader = 10

// appendFrames appends every frame, each a whole WebSocket message.
func appendFrames(b []byte, frames []broadcast.Frame) []byte {
	for _, f := range frames {
		b = appendFrame(b, f)
	}
	return b
}

func appendFrame(b []byte, f broadcast.Frame) []byte {
	b = appendFrameHeader(b, f.Binary, f.Len())
	return append(append(append(b, f.Head...), f.Body...), f.Tail...)
}

// appendFrameHeader appends the header of a final, unmasked, uncompressed
// text or binary frame of n payload bytes (RFC 6455 §5.2).
func appendFrameHeader(b []byte, bin bool, n int) []byte {
	op := byte(0x80 | opText)
	if bin {
		op = 0x80 | opBinary
	}
	return appendHeader(b, op, n)
}

func appendHeader(b []byte, b0 byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, b0, byte(n))
	case n <= 0xFFFF:
		return append(b, b0, 126, byte(n>>8), byte(n))
	}
	u := uint64(n)
	return append(b, b0, 127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

// appendControl appends a control frame (final, unmasked) with payload p
// of at most 125 bytes.
func appendControl(b []byte, op byte, p []byte) []byte {
	return append(append(b, 0x80|op, byte(len(p))), p...)
}

// closePayload is a close frame's payload: code and reason (cut to fit a
// control frame), or nothing when code is 0 or 1005.
func closePayload(dst []byte, code StatusCode, reason string) []byte {
	if code == 0 || code == statusNoStatus {
		return dst[:0]
	}
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return append(append(dst[:0], byte(code>>8), byte(code)), reason...)
}
