package latency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// joinFrame joins the bench channel with the INSERT binding on public.t,
// filtered by filter when given (without one, every client gets every row).
func joinFrame(filter string) string {
	binding := `{"event":"INSERT","schema":"public","table":"t"`
	if filter != "" {
		binding += `,"filter":"` + filter + `"`
	}
	return `["1","1","` + harness.BenchTopic + `","phx_join",{"config":{"postgres_changes":[` + binding + `}]}}]`
}

// wsClient is one WebSocket receiver. Its read loop owns hist, first and
// last until done is closed.
type wsClient struct {
	conn     *websocket.Conn
	marker   int64 // k of the rows it counts
	filtered bool  // joined with sub=eq.<sub>: a row with another sub is misrouted
	sub      int64

	stats.Arrivals
	misrouted atomic.Int64 // rows of the marker with another sub (filtered only)
	ids       []int64      // of the counted rows (filtered only), to find duplicates

	joined, live     chan struct{}
	joinedOK, liveOK bool
	joinErr          error
	done             chan struct{}
	readErr          error // what ended the read loop
	closing          atomic.Bool
}

// clientSet is the receivers of one run, with their heartbeats.
type clientSet struct {
	clients []*wsClient
	stopHB  context.CancelFunc
	hbDone  chan struct{}
}

// dialClients connects n clients to url, joins each to the bench channel
// and waits for every join reply, and with waitLive also for "Subscribed to
// PostgreSQL". The clients count rows whose k is marker. With filtered,
// client i binds with the filter sub=eq.i and gets only those rows.
func dialClients(ctx context.Context, url string, n int, marker int64, waitLive, filtered bool) (*clientSet, error) {
	set := &clientSet{clients: make([]*wsClient, n)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dialClient(ctx, url, marker, waitLive, filtered, int64(i))
			mu.Lock()
			defer mu.Unlock()
			set.clients[i] = c
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("client %d: %w", i+1, err)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		set.close()
		return nil, firstErr
	}
	conns := make([]*websocket.Conn, n)
	for i, c := range set.clients {
		conns[i] = c.conn
	}
	hbCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	set.stopHB, set.hbDone = stop, make(chan struct{})
	go func() {
		defer close(set.hbDone)
		harness.Heartbeats(hbCtx, conns, "2.0.0")
	}()
	return set, nil
}

func dialClient(ctx context.Context, url string, marker int64, waitLive, filtered bool, sub int64) (*wsClient, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	conn.SetReadLimit(16 << 20)
	c := &wsClient{conn: conn, marker: marker, filtered: filtered, sub: sub,
		joined: make(chan struct{}), live: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop()
	filter := ""
	if filtered {
		filter = "sub=eq." + strconv.FormatInt(sub, 10)
	}
	if err := conn.Write(dctx, websocket.MessageText, []byte(joinFrame(filter))); err != nil {
		c.closeNow()
		return nil, fmt.Errorf("send join: %w", err)
	}
	wait := func(ch chan struct{}, what string) error {
		select {
		case <-ch:
			return nil
		case <-c.done:
			return fmt.Errorf("connection closed before %s: %w", what, c.readErr)
		case <-dctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, dctx.Err())
		}
	}
	if err := wait(c.joined, "the join reply"); err != nil {
		c.closeNow()
		return nil, err
	}
	if c.joinErr != nil {
		c.closeNow()
		return nil, c.joinErr
	}
	if waitLive {
		if err := wait(c.live, `"Subscribed to PostgreSQL"`); err != nil {
			c.closeNow()
			return nil, err
		}
	}
	return c, nil
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	c.readErr = harness.ReadMessages(c.conn, c.handle)
}

// handle takes one frame that arrived at now: a change of the bench table,
// or a control message of the join.
func (c *wsClient) handle(f []byte, now int64) {
	i := bytes.Index(f, harness.RecordKey)
	if i < 0 {
		c.control(f)
		return
	}
	rec := f[i:]
	k, ok := harness.IntAfter(rec, harness.KKey)
	if !ok || k != c.marker {
		return
	}
	if c.filtered {
		if sub, ok := harness.IntAfter(rec, harness.SubKey); !ok || sub != c.sub {
			c.misrouted.Add(1)
			return
		}
		if id, ok := harness.IntAfter(rec, harness.IDKey); ok {
			c.ids = append(c.ids, id)
		}
	}
	j := bytes.Index(rec, harness.SentAtKey)
	if j < 0 {
		return
	}
	stamp := rec[j+len(harness.SentAtKey):]
	end := bytes.IndexByte(stamp, '"')
	if end < 0 {
		return
	}
	sent, ok := stats.ParseStamp(stamp[:end])
	if !ok {
		return
	}
	c.Record(now, sent)
}

func (c *wsClient) control(f []byte) {
	if !bytes.Contains(f, harness.TopicKey) {
		return // a heartbeat reply
	}
	switch {
	case bytes.Contains(f, harness.ReplyKey) && !c.joinedOK:
		c.joinedOK = true
		if !bytes.Contains(f, harness.StatusOK) {
			c.joinErr = fmt.Errorf("join refused: %s", f)
		}
		close(c.joined)
	case bytes.Contains(f, harness.SystemKey) && !c.liveOK:
		if bytes.Contains(f, harness.Subscribed) && bytes.Contains(f, harness.StatusOK) {
			c.liveOK = true
			close(c.live)
		}
	}
}

func (c *wsClient) closeNow() {
	c.closing.Store(true)
	_ = c.conn.CloseNow()
	<-c.done
}

// lostConn reports whether the server closed the connection or it failed.
func (c *wsClient) lostConn() bool {
	select {
	case <-c.done:
		return !c.closing.Load()
	default:
		return false
	}
}

func (s *clientSet) received() int64 {
	var n int64
	for _, c := range s.clients {
		n += c.Recv.Load()
	}
	return n
}

// close stops the heartbeats and closes every connection.
func (s *clientSet) close() {
	if s.stopHB != nil {
		s.stopHB()
		<-s.hbDone
	}
	var wg sync.WaitGroup
	for _, c := range s.clients {
		if c != nil {
			wg.Go(c.closeNow)
		}
	}
	wg.Wait()
}

// lostConns counts the connections the server closed or that failed, with
// one of their errors. Call it before close.
func (s *clientSet) lostConns() (n int, example error) {
	for _, c := range s.clients {
		if c.lostConn() {
			n++
			if example == nil {
				example = c.readErr
			}
		}
	}
	if n > 0 && example == nil {
		example = errors.New("closed")
	}
	return n, example
}
