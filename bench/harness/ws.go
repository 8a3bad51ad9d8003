package harness

import (
	"bytes"
	"context"
	"time"

	"github.com/coder/websocket"
)

// ReadMessages reads whole messages from conn until a read fails, and
// returns that error (the connection closed or broke). handle gets each
// message with its arrival time in Unix ns, taken as soon as the last byte
// is in. The message bytes are reused for the next one: handle must copy
// what it keeps.
func ReadMessages(conn *websocket.Conn, handle func(msg []byte, arrived int64)) error {
	var buf bytes.Buffer
	for {
		_, r, err := conn.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			return err
		}
		handle(buf.Bytes(), time.Now().UnixNano())
	}
}

// heartbeatText is the Phoenix heartbeat in the serializer of vsn.
func heartbeatText(vsn string) string {
	if vsn == "1.0.0" {
		return `{"ref":"h","topic":"phoenix","event":"heartbeat","payload":{}}`
	}
	return `[null,"h","phoenix","heartbeat",{}]`
}

// Heartbeats sends a heartbeat on every connection every 25 s, as
// realtime-js does, so the server's 60 s idle timeout never fires. It
// returns when ctx ends.
func Heartbeats(ctx context.Context, conns []*websocket.Conn, vsn string) {
	hb := []byte(heartbeatText(vsn))
	t := time.NewTicker(25 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, ws := range conns {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ws.Write(wctx, websocket.MessageText, hb)
			cancel()
		}
	}
}

// IntAfter parses the integer that follows key in b.
func IntAfter(b, key []byte) (int64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n int64
	j := 0
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	if j == 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
