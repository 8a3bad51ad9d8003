package sse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// The transports compared.
const (
	kindWS  = "WebSocket"
	kindSSE = "SSE"
)

var (
	newKey   = []byte(`"new":{`) // an SSE event's row
	gapKey   = []byte(`"gap"`)
	idPrefix = []byte("id: ")
	evPrefix = []byte("event: ")
	dtPrefix = []byte("data: ")
)

// receiver is one subscriber. Its read loop owns the counts; the mutex
// lets the load process read them while it runs.
type receiver struct {
	marker int64 // k of the rows it counts

	mu       sync.Mutex
	arr      stats.Arrivals
	lastID   int64
	disorder int64 // rows whose id is not above the previous one: repeated or reordered
	gaps     int   // system messages of status "gap"

	ready    chan struct{} // "Subscribed to PostgreSQL" arrived
	readyOK  bool
	cursor   string // SSE: the id of the first system event, the stream's position
	done     chan struct{}
	readErr  error
	closing  atomic.Bool
	closeNow func()
}

func newReceiver(marker int64) *receiver {
	return &receiver{marker: marker, ready: make(chan struct{}), done: make(chan struct{})}
}

// row counts one change whose row object starts at rec, arrived at now
// (Unix ns).
func (r *receiver) row(rec []byte, now int64) {
	k, ok := harness.IntAfter(rec, harness.KKey)
	if !ok || k != r.marker {
		return
	}
	id, _ := harness.IntAfter(rec, harness.IDKey)
	sent := int64(0)
	if j := bytes.Index(rec, harness.SentAtKey); j >= 0 {
		stamp := rec[j+len(harness.SentAtKey):]
		if end := bytes.IndexByte(stamp, '"'); end >= 0 {
			sent, _ = stats.ParseStamp(stamp[:end])
		}
	}
	r.mu.Lock()
	if id <= r.lastID {
		r.disorder++
	}
	r.lastID = id
	r.arr.Record(now, sent)
	r.mu.Unlock()
}

func (r *receiver) markReady() {
	if !r.readyOK {
		r.readyOK = true
		close(r.ready)
	}
}

func (r *receiver) received() int64 { return r.arr.Recv.Load() }

// lost reports whether the connection ended while it should not have.
func (r *receiver) lost() bool {
	select {
	case <-r.done:
		return !r.closing.Load()
	default:
		return false
	}
}

func (r *receiver) close() {
	r.closing.Store(true)
	r.closeNow()
	<-r.done
}

// awaitReady waits for the subscription to be live.
func (r *receiver) awaitReady(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	case <-r.done:
		return fmt.Errorf("closed before it was subscribed: %v", r.readErr)
	case <-ctx.Done():
		return fmt.Errorf("waiting for the subscription: %w", ctx.Err())
	}
}

// wsJoin joins the bench channel with the INSERT binding on public.t,
// resuming after cursor when given.
func wsJoin(cursor string) string {
	cfg := `"postgres_changes":[{"event":"INSERT","schema":"public","table":"t"}]`
	if cursor != "" {
		cfg += `,"postgres_changes_resume":{"after":"` + cursor + `"}`
	}
	return `["1","1","` + harness.BenchTopic + `","phx_join",{"config":{` + cfg + `}}]`
}

// dialWS connects a WebSocket subscriber (vsn 2.0.0) and sends its join;
// hb, when given, sends its heartbeats.
func dialWS(ctx context.Context, client *http.Client, hb *harness.Heartbeater, url, cursor string, marker int64) (*receiver, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: client, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	conn.SetReadLimit(16 << 20)
	r := newReceiver(marker)
	r.closeNow = func() { _ = conn.CloseNow() }
	go func() {
		defer close(r.done)
		r.readErr = harness.ReadMessages(conn, r.wsMessage)
	}()
	if hb != nil {
		hb.Add(conn)
	}
	if err := conn.Write(dctx, websocket.MessageText, []byte(wsJoin(cursor))); err != nil {
		r.close()
		return nil, fmt.Errorf("send join: %w", err)
	}
	return r, nil
}

func (r *receiver) wsMessage(f []byte, now int64) {
	if i := bytes.Index(f, harness.RecordKey); i >= 0 {
		r.row(f[i:], now)
		return
	}
	if !bytes.Contains(f, harness.SystemKey) {
		return // the join reply, a heartbeat reply
	}
	switch {
	case bytes.Contains(f, gapKey):
		r.mu.Lock()
		r.gaps++
		r.mu.Unlock()
	case bytes.Contains(f, harness.Subscribed) && bytes.Contains(f, harness.StatusOK):
		r.markReady()
	}
}

// dialSSE opens an SSE stream, resuming after cursor (Last-Event-ID) when
// given.
func dialSSE(ctx context.Context, client *http.Client, url, cursor string, marker int64) (*receiver, error) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if cursor != "" {
		req.Header.Set("Last-Event-ID", cursor)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET: %s", resp.Status)
	}
	r := newReceiver(marker)
	r.closeNow = cancel
	go func() {
		defer close(r.done)
		defer resp.Body.Close()
		r.readErr = r.readSSE(bufio.NewReaderSize(resp.Body, 64<<10))
	}()
	return r, nil
}

// readSSE reads events until the stream ends. Events are one id, event
// and data line each (the server writes data as one JSON line).
func (r *receiver) readSSE(br *bufio.Reader) error {
	var id, event, data []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return errors.New("an SSE line over 64 KiB")
		}
		if err != nil {
			return err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		switch {
		case len(line) == 0:
			if len(event) > 0 {
				r.sseEvent(id, event, data, time.Now().UnixNano())
			}
			id, event, data = id[:0], event[:0], data[:0]
		case bytes.HasPrefix(line, idPrefix):
			id = append(id[:0], line[len(idPrefix):]...)
		case bytes.HasPrefix(line, evPrefix):
			event = append(event[:0], line[len(evPrefix):]...)
		case bytes.HasPrefix(line, dtPrefix):
			data = append(data[:0], line[len(dtPrefix):]...)
		}
	}
}

func (r *receiver) sseEvent(id, event, data []byte, now int64) {
	switch string(event) {
	case "postgres_changes":
		if i := bytes.Index(data, newKey); i >= 0 {
			r.row(data[i:], now)
		}
	case "system":
		switch {
		case bytes.Contains(data, gapKey):
			r.mu.Lock()
			r.gaps++
			r.mu.Unlock()
		case bytes.Contains(data, harness.StatusOK) && !r.readyOK:
			r.cursor = string(id)
			r.markReady()
		}
	}
}

// tally is what a set of receivers counted.
type tally struct {
	Clients   int              `json:"clients"`
	Received  int64            `json:"received"`
	Short     int              `json:"short"` // receivers with fewer rows than expected
	Over      int              `json:"over"`  // with more
	Disorder  int64            `json:"disorder"`
	Gaps      int              `json:"gaps"`
	Lost      int              `json:"lost"` // connections that ended
	Hist      stats.HistJSON   `json:"hist"`
	LastRecv  int64            `json:"last_recv"` // Unix ns of the last counted row
	LostError string           `json:"lost_error,omitempty"`
	hist      *stats.Histogram // merged, parent side
}

// count tallies rs against expect rows each.
func count(rs []*receiver, expect int64) tally {
	t := tally{Clients: len(rs)}
	var h stats.Histogram
	for _, r := range rs {
		r.mu.Lock()
		n := r.arr.Recv.Load()
		t.Received += n
		t.Short += stats.Btoi(n < expect)
		t.Over += stats.Btoi(n > expect)
		t.Disorder += r.disorder
		t.Gaps += r.gaps
		h.Merge(&r.arr.Hist)
		t.LastRecv = max(t.LastRecv, r.arr.Last)
		r.mu.Unlock()
		if r.lost() {
			t.Lost++
			if t.LostError == "" && r.readErr != nil {
				t.LostError = r.readErr.Error()
			}
		}
	}
	t.Hist = h.ToJSON()
	return t
}

// add sums o into t (the tallies of several load processes).
func (t *tally) add(o tally) {
	if t.hist == nil {
		t.hist = &stats.Histogram{}
	}
	t.Clients += o.Clients
	t.Received += o.Received
	t.Short += o.Short
	t.Over += o.Over
	t.Disorder += o.Disorder
	t.Gaps += o.Gaps
	t.Lost += o.Lost
	t.LastRecv = max(t.LastRecv, o.LastRecv)
	if t.LostError == "" {
		t.LostError = o.LostError
	}
	t.hist.Merge(o.Hist.Histogram())
}

// histogram is the latencies of t: merged from several tallies, or its own.
func (t *tally) histogram() *stats.Histogram {
	if t.hist != nil {
		return t.hist
	}
	return t.Hist.Histogram()
}
