package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/coder/websocket"
)

// appendReply appends r with its length prefix, as Centrifugo frames it.
func appendReply(t *testing.T, dst []byte, r *protocol.Reply) []byte {
	b, err := r.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// protobufPeer is a server that speaks Centrifugo's protobuf protocol as
// far as the bench uses it: it answers connect and subscribe, then sends a
// ping and, once the pong is back, one frame with two publications (one
// sent inside the window, one outside) and a refused publish.
func protobufPeer(t *testing.T, inWindow, outside int64, pong chan<- struct{}) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"centrifuge-protobuf"}})
		if err != nil {
			t.Error(err)
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		for joined := false; !joined; {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				return
			}
			dec := protocol.NewProtobufCommandDecoder(msg)
			cmd, err := dec.Decode() // io.EOF with the frame's last command
			if err != nil && !errors.Is(err, io.EOF) {
				t.Errorf("decode command: %v", err)
				return
			}
			var out []byte
			switch {
			case cmd.Connect != nil:
				out = appendReply(t, nil, &protocol.Reply{Id: cmd.Id, Connect: &protocol.ConnectResult{Client: "c1"}})
			case cmd.Subscribe != nil && cmd.Subscribe.Channel == "fanout":
				out = appendReply(t, nil, &protocol.Reply{Id: cmd.Id, Subscribe: &protocol.SubscribeResult{}})
				joined = true
			default:
				t.Errorf("unexpected command %v", cmd)
				return
			}
			if err := ws.Write(ctx, websocket.MessageBinary, out); err != nil {
				return
			}
		}
		if err := ws.Write(ctx, websocket.MessageBinary, appendReply(t, nil, &protocol.Reply{})); err != nil {
			return
		}
		if _, msg, err := ws.Read(ctx); err != nil || len(msg) != 1 || msg[0] != 0 {
			t.Errorf("pong %v, %v: want one empty command", msg, err)
			return
		}
		close(pong)
		var frame []byte
		for _, sent := range []int64{inWindow, outside} {
			frame = appendReply(t, frame, &protocol.Reply{Push: &protocol.Push{Channel: "fanout", Pub: &protocol.Publication{Data: AppendPayload(nil, sent, 1, 128)}}})
		}
		frame = appendReply(t, frame, &protocol.Reply{Id: 9, Error: &protocol.Error{Code: 103, Message: "permission denied"}})
		if err := ws.Write(ctx, websocket.MessageBinary, frame); err != nil {
			return
		}
		ws.Read(ctx) // until the client closes
	}))
}

// TestCentrifugoProtobufClient: the client joins in protobuf, answers the
// ping, counts the publication sent in the window (not the other one) and
// counts the error reply as a refusal.
func TestCentrifugoProtobufClient(t *testing.T) {
	now := time.Now().UnixNano()
	pong := make(chan struct{})
	srv := protobufPeer(t, now, now-int64(time.Hour), pong)
	defer srv.Close()
	w := &Window{}
	w.From.Store(now - int64(time.Second))
	w.To.Store(now + int64(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialCentrifugo(ctx, ProtoCentrifugoProtobuf, srv.Client(), "ws"+strings.TrimPrefix(srv.URL, "http"), "fanout", w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Ws.CloseNow()
	select {
	case <-pong:
	case <-ctx.Done():
		t.Fatal("no pong to the ping")
	}
	for w.Received.Load()+w.Outside.Load() < 2 || c.Refused.Load() < 1 {
		select {
		case <-ctx.Done():
			t.Fatalf("received %d, outside %d, refused %d; want 1, 1, 1", w.Received.Load(), w.Outside.Load(), c.Refused.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if w.Received.Load() != 1 || w.Outside.Load() != 1 || *c.Refusal.Load() != "103 permission denied" {
		t.Errorf("received %d, outside %d, refusal %q", w.Received.Load(), w.Outside.Load(), *c.Refusal.Load())
	}
	if got := CentrifugoPublishProtobuf(nil, 5, "fanout", now, 1, 128); len(got) < 128 {
		t.Errorf("publish command of %d bytes for a 128-byte payload", len(got))
	} else if cmd, err := protocol.NewProtobufCommandDecoder(got).Decode(); (err != nil && !errors.Is(err, io.EOF)) || cmd.Id != 5 || cmd.Publish.Channel != "fanout" {
		t.Errorf("publish command decodes to %v, %v", cmd, err)
	}
}
