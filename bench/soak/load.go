package soak

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
)

// mixedLoad is the steady load of the soak, in this process: broadcast
// subscribers and one publisher per room, and presence clients of which
// churn a second leave and come back. Its goroutines stop when the
// context of start ends; wait waits for them.
type mixedLoad struct {
	opt    soakOptions
	url    string
	client *http.Client
	hb     *harness.Heartbeater
	w      harness.Window // what the subscribers received
	subs   []*harness.RoomConn
	pubs   []*harness.RoomConn

	published, presenceCycles, presenceErrors atomic.Int64
	firstPresenceError                        atomic.Value // string
	wg                                        sync.WaitGroup
}

func roomTopic(i int) string { return fmt.Sprintf("realtime:soak-%d", i) }

// start connects every client, then publishes and churns presence until
// ctx ends.
func (l *mixedLoad) start(ctx context.Context) error {
	l.w.To.Store(math.MaxInt64) // every broadcast counts
	l.hb = harness.StartHeartbeats(ctx, "2.0.0", harness.HeartbeatInterval)
	l.subs = make([]*harness.RoomConn, l.opt.subs)
	err := harness.DialAll(ctx, l.opt.subs, 32, func(ctx context.Context, i int) error {
		c, err := harness.DialRoom(ctx, l.client, l.hb, l.url, "2.0.0", roomTopic(i%l.opt.rooms), &l.w)
		l.subs[i] = c
		return err
	})
	if err != nil {
		return fmt.Errorf("connect subscribers: %w", err)
	}
	var pubWindow harness.Window
	l.pubs = make([]*harness.RoomConn, l.opt.rooms)
	for i := range l.pubs {
		if l.pubs[i], err = harness.DialRoom(ctx, l.client, l.hb, l.url, "2.0.0", roomTopic(i), &pubWindow); err != nil {
			return fmt.Errorf("connect publisher %d: %w", i+1, err)
		}
	}
	presence := make([]*websocket.Conn, l.opt.presence)
	for i := range presence {
		if presence[i], err = l.track(ctx, i); err != nil {
			return fmt.Errorf("connect presence client %d: %w", i+1, err)
		}
	}
	l.wg.Go(func() { l.publish(ctx) })
	l.wg.Go(func() { l.churn(ctx, presence) })
	return nil
}

// publish sends rate broadcasts a second, round robin over the rooms.
func (l *mixedLoad) publish(ctx context.Context) {
	tick := time.NewTicker(time.Second / time.Duration(l.opt.rate))
	defer tick.Stop()
	var frame []byte
	for seq := int64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		room := int(seq) % l.opt.rooms
		frame = harness.BroadcastPush(frame[:0], roomTopic(room), harness.FanoutEvent, time.Now().UnixNano(), seq, l.opt.payload)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if l.pubs[room].Ws.Write(wctx, websocket.MessageBinary, frame) == nil {
			l.published.Add(1)
		}
		cancel()
	}
}

// churn closes churn presence clients a second, round robin, and has each
// rejoin and track again at once; on exit it closes them all.
func (l *mixedLoad) churn(ctx context.Context, presence []*websocket.Conn) {
	defer func() {
		for _, c := range presence {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	if l.opt.churn == 0 {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(time.Second / time.Duration(l.opt.churn))
	defer tick.Stop()
	for next := 0; ; next = (next + 1) % len(presence) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if presence[next] != nil {
			presence[next].Close(websocket.StatusNormalClosure, "")
		}
		c, err := l.track(ctx, next)
		presence[next] = c
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if l.presenceErrors.Add(1) == 1 {
				l.firstPresenceError.Store(err.Error())
			}
			continue
		}
		l.presenceCycles.Add(1)
	}
}

// track connects presence client i, joins its room with presence on and
// tracks its presence; the presence state and diffs it then receives are
// read and dropped.
func (l *mixedLoad) track(ctx context.Context, i int) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, l.url, &websocket.DialOptions{HTTPClient: l.client})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 22) // the presence state of a room
	topic := roomTopic(i % l.opt.rooms)
	join := fmt.Sprintf(`["1","1",%q,"phx_join",{"config":{"broadcast":{"self":false,"ack":false},"presence":{"key":"p-%d","enabled":true},"postgres_changes":[],"private":false}}]`, topic, i)
	if err := ws.Write(dctx, websocket.MessageText, []byte(join)); err != nil {
		ws.CloseNow()
		return nil, err
	}
	for {
		_, msg, err := ws.Read(dctx)
		if err != nil {
			ws.CloseNow()
			return nil, fmt.Errorf("join: %w", err)
		}
		if reply := string(msg); containsAll(reply, `"phx_reply"`, topic) {
			if !containsAll(reply, `"status":"ok"`) {
				ws.CloseNow()
				return nil, fmt.Errorf("join refused: %s", reply)
			}
			break
		}
	}
	track := fmt.Sprintf(`["1","2",%q,"presence",{"type":"presence","event":"track","payload":{"client":%d}}]`, topic, i)
	if err := ws.Write(dctx, websocket.MessageText, []byte(track)); err != nil {
		ws.CloseNow()
		return nil, err
	}
	l.hb.Add(ws)
	l.wg.Go(func() { harness.ReadMessages(ws, func([]byte, int64) {}) })
	return ws, nil
}

// lostSubscribers counts the subscriber sockets that ended.
func (l *mixedLoad) lostSubscribers() int {
	n := 0
	for _, c := range l.subs {
		select {
		case <-c.Done:
			n++
		default:
		}
	}
	return n
}

// close ends every connection and waits for the load's goroutines.
func (l *mixedLoad) close() {
	for _, c := range append(l.subs, l.pubs...) {
		if c != nil {
			c.Ws.CloseNow()
		}
	}
	l.wg.Wait()
	l.hb.Stop()
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
