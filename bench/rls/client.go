package rls

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// The channel each user joins, and the keys of the columns it reads.
const userTopic = "realtime:user"

var (
	userTopicKey = []byte(`"` + userTopic + `"`)
	ownerKey     = []byte(`"owner":`)
	kKey         = []byte(`"k":`)
	sentKey      = []byte(`"sent_ns":`)
)

// joinFrame is the join of user u's channel: INSERTs on table, filtered by
// owner=eq.u unless table has row security (then the policy decides), with
// the user's token as access_token.
func joinFrame(table string, filtered bool, u int, token string) []byte {
	filter := ""
	if filtered {
		filter = `,"filter":"owner=eq.` + strconv.Itoa(u) + `"`
	}
	return fmt.Appendf(nil, `["1","1","%s","phx_join",{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":%q%s}]},"access_token":%q}]`,
		userTopic, table, filter, token)
}

// userConn is one user's WebSocket. Its read loop owns hist, last and the
// join state until done is closed.
type userConn struct {
	ws     *websocket.Conn
	user   int
	marker int64 // k of the measured rows

	recv      atomic.Int64
	misrouted atomic.Int64 // measured rows of another owner
	hist      stats.Histogram
	last      int64 // arrival of the latest measured row, Unix ns

	replied, live bool
	ready         chan struct{}
	joinErr       error
	done          chan struct{}
	readErr       error
	closing       atomic.Bool
}

// dialUser connects to url, joins the user's channel and waits for the
// reply and "Subscribed to PostgreSQL".
func dialUser(ctx context.Context, hb *harness.Heartbeater, url string, join []byte, user int, marker int64) (*userConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	hb.Add(ws)
	c := &userConn{ws: ws, user: user, marker: marker, ready: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop()
	if err := ws.Write(dctx, websocket.MessageText, join); err != nil {
		c.close()
		return nil, fmt.Errorf("send join of user %d: %w", user, err)
	}
	select {
	case <-c.ready:
		if c.joinErr != nil {
			c.close()
			return nil, c.joinErr
		}
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("user %d: connection closed while joining: %w", user, c.readErr)
	case <-dctx.Done():
		c.close()
		return nil, fmt.Errorf("user %d: joining: replied %v, subscribed %v: %w", user, c.replied, c.live, dctx.Err())
	}
}

func (c *userConn) readLoop() {
	defer close(c.done)
	c.readErr = harness.ReadMessages(c.ws, c.handle)
}

// handle takes one frame: a change, or the join's reply and system
// message. Rows of other markers (the warm-up) are not counted.
func (c *userConn) handle(f []byte, now int64) {
	if !bytes.Contains(f, userTopicKey) {
		return
	}
	if i := bytes.Index(f, harness.RecordKey); i >= 0 {
		rec := f[i:]
		if k, ok := harness.IntAfter(rec, kKey); !ok || k != c.marker {
			return
		}
		if owner, ok := harness.IntAfter(rec, ownerKey); !ok || owner != int64(c.user) {
			c.misrouted.Add(1)
			return
		}
		if sent, ok := harness.IntAfter(rec, sentKey); ok {
			c.hist.Record((now - sent) / 1000)
		}
		c.last = now
		c.recv.Add(1)
		return
	}
	if isClosed(c.ready) {
		return
	}
	switch {
	case bytes.Contains(f, harness.ReplyKey):
		if !bytes.Contains(f, harness.StatusOK) {
			c.joinErr = fmt.Errorf("user %d: join refused: %.300s", c.user, f)
			close(c.ready)
			return
		}
		c.replied = true
	case bytes.Contains(f, harness.SystemKey):
		if !bytes.Contains(f, harness.Subscribed) || !bytes.Contains(f, harness.StatusOK) {
			c.joinErr = fmt.Errorf("user %d: %.300s", c.user, f)
			close(c.ready)
			return
		}
		c.live = true
	}
	if c.replied && c.live {
		close(c.ready)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// lost reports why the connection ended while it should be open.
func (c *userConn) lost() error {
	if !isClosed(c.done) || c.closing.Load() {
		return nil
	}
	return fmt.Errorf("user %d: connection lost: %w", c.user, c.readErr)
}

func (c *userConn) close() {
	c.closing.Store(true)
	_ = c.ws.CloseNow()
	<-c.done
}
