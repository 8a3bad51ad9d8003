package relay

import (
	"encoding/binary"
	"errors"

	"github.com/walcast/walcast/broadcast"
)

// The content of a relay message: a version byte, the sending node's id,
// then envelopes back to back until the end. An envelope is a kind byte,
// a flags byte, the sender's connection as a uvarint, then topic, event,
// meta and payload, each a uvarint length and its bytes.
const wireVersion = 1

const (
	flagPrivate = 1 << iota
	flagJSON
	flagBinary
)

func appendHeader(dst []byte, node string) []byte {
	dst = append(dst, wireVersion)
	return appendBytes(dst, node)
}

func appendEnvelope(dst []byte, e *broadcast.Envelope) []byte {
	var flags byte
	if e.Private {
		flags |= flagPrivate
	}
	if e.JSON {
		flags |= flagJSON
	}
	if e.Binary {
		flags |= flagBinary
	}
	dst = append(dst, byte(e.Kind), flags)
	dst = binary.AppendUvarint(dst, e.Sender.Conn)
	dst = appendBytes(dst, e.Topic)
	dst = appendBytes(dst, e.Event)
	dst = appendBytes(dst, e.Meta)
	return appendBytes(dst, e.Payload)
}

func appendBytes[T string | []byte](dst []byte, s T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errMalformed = errors.New("malformed relay message")

// reader decodes a relay message. Its byte slices alias the message.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errMalformed
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMalformed
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errMalformed
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	if n == 0 {
		return nil
	}
	return s
}

// header reads the version and the sending node.
func (r *reader) header() string {
	if r.byte() != wireVersion && r.err == nil {
		r.err = errors.New("relay message of an unknown version (a newer walcast?)")
	}
	return string(r.bytes())
}

// envelope reads the next envelope into e; node is the sender's.
func (r *reader) envelope(e *broadcast.Envelope, node string) bool {
	kind, flags := r.byte(), r.byte()
	conn := r.uvarint()
	topic, event, meta, payload := r.bytes(), r.bytes(), r.bytes(), r.bytes()
	if r.err != nil {
		return false
	}
	if broadcast.EnvelopeKind(kind) == broadcast.KindPresenceDiff || kind > byte(broadcast.KindPresenceDiff) || len(topic) == 0 {
		r.err = errMalformed
		return false
	}
	*e = broadcast.Envelope{
		Topic: string(topic), Private: flags&flagPrivate != 0, Kind: broadcast.EnvelopeKind(kind),
		Event: string(event), Meta: meta, Payload: payload,
		JSON: flags&flagJSON != 0, Binary: flags&flagBinary != 0,
		Sender: broadcast.Sender{Node: node, Conn: conn},
	}
	return true
}
