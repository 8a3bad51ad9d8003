package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/centrifugal/protocol"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Centrifugo's JSON protocol over WebSocket (client protocol v2): commands
// {"id":N,"connect":{}}, {"id":N,"subscribe":{"channel":...}} and
// {"id":N,"publish":{"channel":...,"data":...}} are answered by replies
// with the same id; publications arrive as {"push":{"channel":...,
// "pub":{"data":...}}}. The server may put several of these in one frame,
// one per line. Its pings are {} and must be answered with {} within
// client.pong_timeout (8 s by default), or it closes the connection.

// centrifugoState is what a roomConn needs for Centrifugo only.
type centrifugoState struct {
	joinID  uint32                 // the reply that completes the join: 1 connect, 2 subscribe
	Refused atomic.Int64           // error replies after the join (refused publishes)
	Refusal atomic.Pointer[string] // the first of them
}

// centrifugoReadLimit bounds a frame from Centrifugo, which can carry a
// backlog of pushes; the client is the bench's own, the server trusted.
const centrifugoReadLimit = 64 << 20

var (
	centrifugoPing = []byte("{}")
	centrifugoPush = []byte(`{"push":`)
)

// DialCentrifugo connects to url in proto (ProtoCentrifugo or
// ProtoCentrifugoProtobuf) and subscribes to channel, or only connects
// when channel is empty (a publisher).
func DialCentrifugo(ctx context.Context, proto string, client *http.Client, url, channel string, w *Window) (*RoomConn, error) {
	if proto == ProtoCentrifugoProtobuf {
		return dialCentrifugoProtobuf(ctx, client, url, channel, w)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, err
	}
	// Centrifugo packs many pushes into one frame under load: allow more
	// than coder/websocket's default 32 KiB, and room for a backlog of
	// 64 KB pushes (the sizes workload), which passed 1 MiB.
	ws.SetReadLimit(centrifugoReadLimit)
	c := &RoomConn{Ws: ws, w: w, proto: ProtoCentrifugo, joined: make(chan error, 1), Done: make(chan struct{})}
	frames := []string{`{"id":1,"connect":{}}`}
	c.joinID = 1
	if channel != "" {
		ch, _ := json.Marshal(channel)
		frames = append(frames, `{"id":2,"subscribe":{"channel":`+string(ch)+`}}`)
		c.joinID = 2
	}
	go c.readLoop()
	return c.join(dctx, frames...)
}

// centrifugoFrame handles one frame, received at now, line by line, and
// returns whether the join is complete.
func (c *RoomConn) centrifugoFrame(frame []byte, now int64, joined bool) bool {
	for len(frame) > 0 {
		line, rest, _ := bytes.Cut(frame, []byte{'\n'})
		frame = rest
		switch {
		case len(line) == 0:
		case bytes.Equal(line, centrifugoPing):
			wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.Ws.Write(wctx, websocket.MessageText, centrifugoPing)
			cancel()
		case bytes.HasPrefix(line, centrifugoPush):
			if joined {
				c.count(line, now)
			}
		default:
			joined = c.centrifugoReply(line, joined)
		}
	}
	return joined
}

// centrifugoReply handles a command reply: before the join, the reply of
// the join (or an error) completes it; after it, error replies count as
// refusals.
func (c *RoomConn) centrifugoReply(line []byte, joined bool) bool {
	var r struct {
		ID    uint32 `json:"id"`
		Error *struct {
			Code    uint32 `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(line, &r) != nil {
		return joined
	}
	if r.Error == nil {
		return c.centrifugoResult(r.ID, nil, joined)
	}
	return c.centrifugoResult(r.ID, &protocol.Error{Code: r.Error.Code, Message: r.Error.Message}, joined)
}

// CentrifugoPublish appends a publish command with id whose data is the
// benchmark payload (see appendPayload).
func CentrifugoPublish(dst []byte, id int64, channel string, t, seq int64, size int) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"publish":{"channel":`...)
	dst = strconv.AppendQuote(dst, channel)
	dst = append(dst, `,"data":`...)
	dst = AppendPayload(dst, t, seq, size)
	return append(dst, "}}"...)
}

// JoinConns is the start of a load process in either protocol: n
// connections from client to url, parallel at a time, the i-th joined to
// channel(i). It prints the error, or that the connections are ready and
// how long they took. stopKeepAlive ends what keeps them open: walcast's
// heartbeats (Centrifugo's clients answer the server's pings instead).
func JoinConns(ctx context.Context, proto string, client *http.Client, url, vsn string, n, parallel int, channel func(i int) string) (w *Window, conns []*RoomConn, stopKeepAlive func(), err error) {
	if !IsCentrifugo(proto) {
		return joinRoomConns(ctx, client, url, vsn, n, parallel, channel)
	}
	w = &Window{}
	conns = make([]*RoomConn, n)
	start := time.Now()
	err = DialAll(ctx, n, parallel, func(ctx context.Context, i int) error {
		c, err := DialCentrifugo(ctx, proto, client, url, channel(i), w)
		conns[i] = c
		return err
	})
	if err != nil {
		Emit(map[string]string{"error": err.Error()})
		return w, conns, func() {}, err
	}
	Emit(map[string]any{"ready": true, "connect_ms": time.Since(start).Milliseconds()})
	return w, conns, func() {}, nil
}
