package harness

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/coder/websocket"
)

// Centrifugo's protobuf protocol over WebSocket (subprotocol
// centrifuge-protobuf): the same commands, replies and pushes as the JSON
// one, each a Command or Reply message prefixed with its length as a
// varint, several to a binary frame. A ping is an empty Reply, answered
// with an empty Command. Messages are encoded and decoded with
// github.com/centrifugal/protocol, the package Centrifugo itself uses.

// ProtoCentrifugoProtobuf is Centrifugo's protobuf protocol.
const ProtoCentrifugoProtobuf = "centrifugo-protobuf"

// centrifugoPong is an empty Command with its length prefix.
var centrifugoPong = []byte{0}

// IsCentrifugo reports whether proto is one of Centrifugo's protocols.
func IsCentrifugo(proto string) bool {
	return proto == ProtoCentrifugo || proto == ProtoCentrifugoProtobuf
}

// dialCentrifugoProtobuf is DialCentrifugo in the protobuf protocol.
func dialCentrifugoProtobuf(ctx context.Context, client *http.Client, url, channel string, w *Window) (*RoomConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"centrifuge-protobuf"}})
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != "centrifuge-protobuf" {
		ws.CloseNow()
		return nil, fmt.Errorf("centrifugo did not take the protobuf subprotocol (got %q)", ws.Subprotocol())
	}
	ws.SetReadLimit(centrifugoReadLimit)
	c := &RoomConn{Ws: ws, w: w, proto: ProtoCentrifugoProtobuf, joined: make(chan error, 1), Done: make(chan struct{})}
	frames := [][]byte{appendCommand(nil, &protocol.Command{Id: 1, Connect: &protocol.ConnectRequest{}})}
	c.joinID = 1
	if channel != "" {
		frames = append(frames, appendCommand(nil, &protocol.Command{Id: 2, Subscribe: &protocol.SubscribeRequest{Channel: channel}}))
		c.joinID = 2
	}
	go c.readLoop()
	for _, f := range frames {
		if err := ws.Write(dctx, websocket.MessageBinary, f); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	return c.awaitJoin(dctx)
}

// appendCommand appends cmd with its length prefix.
func appendCommand(dst []byte, cmd *protocol.Command) []byte {
	n := cmd.SizeVT()
	dst = binary.AppendUvarint(dst, uint64(n))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := cmd.MarshalToSizedBufferVT(dst[start:]); err != nil {
		panic(err) // a Command of known fields always marshals
	}
	return dst
}

// CentrifugoPublishProtobuf is CentrifugoPublish in the protobuf protocol.
func CentrifugoPublishProtobuf(dst []byte, id int64, channel string, t, seq int64, size int) []byte {
	data := AppendPayload(nil, t, seq, size)
	return appendCommand(dst, &protocol.Command{Id: uint32(id), Publish: &protocol.PublishRequest{Channel: channel, Data: data}})
}

// centrifugoProtobufFrame handles one binary frame, received at now, reply
// by reply, and returns whether the join is complete.
func (c *RoomConn) centrifugoProtobufFrame(frame []byte, now int64, joined bool) bool {
	for len(frame) > 0 {
		size, n := binary.Uvarint(frame)
		if n <= 0 || uint64(len(frame)-n) < size {
			c.protoErr(fmt.Errorf("centrifugo sent a truncated protobuf reply"), joined)
			return true
		}
		msg := frame[n : n+int(size)]
		frame = frame[n+int(size):]
		var r protocol.Reply
		if err := r.UnmarshalVT(msg); err != nil {
			c.protoErr(fmt.Errorf("decode a centrifugo reply: %w", err), joined)
			return true
		}
		switch {
		case r.Id == 0 && r.Push == nil:
			wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.Ws.Write(wctx, websocket.MessageBinary, centrifugoPong)
			cancel()
		case r.Push != nil:
			if joined && r.Push.Pub != nil {
				c.count(r.Push.Pub.Data, now)
			}
		default:
			joined = c.centrifugoResult(r.Id, r.Error, joined)
		}
	}
	return joined
}

// protoErr reports a protocol error: as the join's error before the join,
// as a refusal after it.
func (c *RoomConn) protoErr(err error, joined bool) {
	if !joined {
		c.joined <- err
		return
	}
	c.Refused.Add(1)
	msg := err.Error()
	c.Refusal.CompareAndSwap(nil, &msg)
}

// centrifugoResult handles the reply with id and its error, if any, in
// either protocol: before the join, the reply of the join (or an error)
// completes it; after it, errors count as refusals.
func (c *RoomConn) centrifugoResult(id uint32, e *protocol.Error, joined bool) bool {
	switch {
	case joined:
		if e != nil {
			c.Refused.Add(1)
			msg := fmt.Sprintf("%d %s", e.Code, e.Message)
			c.Refusal.CompareAndSwap(nil, &msg)
		}
	case e != nil:
		c.joined <- fmt.Errorf("centrifugo refused command %d: %d %s", id, e.Code, e.Message)
		joined = true
	case id == c.joinID:
		c.joined <- nil
		joined = true
	}
	return joined
}
