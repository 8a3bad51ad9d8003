package drain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// The channel the drain subscriber joins: postgres_changes on the load's
// table, every event, no filter.
const drainTopic = "realtime:drain"

func drainJoin(table string) []byte {
	return fmt.Appendf(nil, `["1","1","%s","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public","table":%q}]}}]`, drainTopic, table)
}

var (
	drainTopicKey = []byte(`"` + drainTopic + `"`)
	itemIDKey     = []byte(`"id":`)
	oldRecordKey  = []byte(`"old_record":{`)
)

// expect is what every change of a load is: its type, and where its id is
// (the first column of record, or of old_record for a DELETE, which has no
// record).
type expect struct {
	typeKey   []byte // "type":"UPDATE"; nil: any type
	recordKey []byte // nil: harness.RecordKey
}

func expectOf(l load) expect {
	e := expect{typeKey: fmt.Appendf(nil, `"type":%q`, l.op)}
	if l.op == "DELETE" {
		e.recordKey = oldRecordKey
	}
	return e
}

// rowSubscriber is one WebSocket client counting the rows of public.items
// it receives and checking that their ids run on from firstID without a
// gap. Its read loop owns first, last and gap until done is closed.
type rowSubscriber struct {
	conn    *websocket.Conn
	firstID int64
	expect

	rows   atomic.Int64
	lastAt atomic.Int64 // arrival of the latest row, Unix ns

	first, last int64  // ids of the first and latest row
	gap         string // the first id out of sequence, when any

	joined  chan struct{}
	joinErr error
	done    chan struct{}
	readErr error // what ended the read loop
	closing atomic.Bool
	stopHB  context.CancelFunc
}

// dialRowSubscriber connects to url, joins the drain channel and waits for
// the join reply: from then on every change the server streams reaches it.
// bigBuffer reads through a 256 KB buffer instead of the default one.
func dialRowSubscriber(ctx context.Context, url string, l load, firstID int64, bigBuffer bool) (*rowSubscriber, error) {
	// A join takes milliseconds; a server that has not answered in 10 s
	// is not going to.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled}
	if bigBuffer {
		// A large read buffer under the WebSocket library's own 4 KB one:
		// when the subscriber lags, one read takes many frames.
		opts.HTTPClient = &http.Client{Transport: &http.Transport{ReadBufferSize: 256 << 10}}
	}
	conn, _, err := websocket.Dial(dctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("dial walcast serve: %w", err)
	}
	conn.SetReadLimit(16 << 20)
	s := &rowSubscriber{conn: conn, firstID: firstID, expect: expectOf(l), joined: make(chan struct{}), done: make(chan struct{})}
	go s.readLoop()
	hctx, stopHB := context.WithCancel(ctx)
	s.stopHB = stopHB
	go harness.Heartbeats(hctx, []*websocket.Conn{conn}, "2.0.0")
	if err := conn.Write(dctx, websocket.MessageText, drainJoin(l.table)); err != nil {
		s.close()
		return nil, fmt.Errorf("send join: %w", err)
	}
	select {
	case <-s.joined:
	case <-s.done:
		s.close()
		return nil, fmt.Errorf("connection closed before the join reply: %w", s.readErr)
	case <-dctx.Done():
		s.close()
		return nil, fmt.Errorf("waiting for the join reply: %w", dctx.Err())
	}
	if s.joinErr != nil {
		s.close()
		return nil, s.joinErr
	}
	return s, nil
}

func (s *rowSubscriber) readLoop() {
	defer close(s.done)
	s.readErr = harness.ReadMessages(s.conn, s.handle)
}

// handle takes one frame that arrived at now: a change, or the join reply.
func (s *rowSubscriber) handle(f []byte, now int64) {
	key := s.recordKey
	if key == nil {
		key = harness.RecordKey
	}
	i := bytes.Index(f, key)
	if i < 0 {
		if bytes.Contains(f, drainTopicKey) && bytes.Contains(f, harness.ReplyKey) && s.joinErr == nil && !isClosed(s.joined) {
			if !bytes.Contains(f, harness.StatusOK) {
				s.joinErr = fmt.Errorf("join refused: %s", f)
			}
			close(s.joined)
		}
		return
	}
	// The type comes before the record, after a short header.
	if s.typeKey != nil && !bytes.Contains(f[:i], s.typeKey) {
		if s.gap == "" {
			s.gap = fmt.Sprintf("a change of another type than %s: %.200s", s.typeKey, f)
		}
		return
	}
	// The id is the first column of the record.
	id, ok := harness.IntAfter(f[i:], itemIDKey)
	if !ok {
		if s.gap == "" {
			s.gap = fmt.Sprintf("a change without an id: %.200s", f)
		}
		return
	}
	n := s.rows.Load()
	if want := s.firstID + n; id != want && s.gap == "" {
		s.gap = fmt.Sprintf("row %d has id %d, want %d", n+1, id, want)
	}
	if n == 0 {
		s.first = id
	}
	s.last = id
	s.lastAt.Store(now)
	s.rows.Add(1)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// lost reports why the connection ended while it should be open, if it did.
func (s *rowSubscriber) lost() error {
	if !isClosed(s.done) || s.closing.Load() {
		return nil
	}
	var ce websocket.CloseError
	if errors.As(s.readErr, &ce) {
		return deliveryError{fmt.Errorf("walcast serve closed the subscriber's connection (%d %s) after %s rows", ce.Code, ce.Reason, stats.Group(float64(s.rows.Load())))}
	}
	return deliveryError{fmt.Errorf("subscriber connection lost after %s rows: %w", stats.Group(float64(s.rows.Load())), s.readErr)}
}

// close ends the connection and waits for the read loop.
func (s *rowSubscriber) close() {
	s.closing.Store(true)
	s.stopHB()
	_ = s.conn.CloseNow()
	<-s.done
}

// check verifies, after close, that the subscriber received exactly rows
// rows with ids firstID to firstID+rows-1 in order.
func (s *rowSubscriber) check(rows int) error {
	got := s.rows.Load()
	switch {
	case s.gap != "":
		return deliveryError{fmt.Errorf("subscriber: %s", s.gap)}
	case got != int64(rows):
		return deliveryError{fmt.Errorf("subscriber received %d of %d rows", got, rows)}
	case s.first != s.firstID || s.last != s.firstID+int64(rows)-1:
		return deliveryError{fmt.Errorf("subscriber received ids %d to %d, want %d to %d", s.first, s.last, s.firstID, s.firstID+int64(rows)-1)}
	}
	return nil
}
