package transport

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/internal/wsconn"
)

// A hijacked HTTP/1.x SSE stream is a raw stream of wsconn (AdoptRaw), on
// the machinery a WebSocket has: its events go into the connection's
// queue, the flush pool writes them, and while idle it is parked with no
// goroutine at all; its hanging up (or sending anything) ends it. Each
// event is one chunk of the chunked transfer coding, encoded once per
// change and shared by every stream it goes to (payloadCache); the
// connection's timer writes the heartbeat chunk after SSEHeartbeat of
// silence, and its end writes the last chunk, so that the client sees a
// complete response.
//
// The sink (feedSink with a streamQueue) queues into the connection and
// never blocks. Until the opening status is queued it holds what the
// subscription delivers, so that the status comes first. While a resumed
// stream replays, it only offers the connection what fits (Conn.Offer)
// and holds the rest, in order, for the replay's wait to hand over: the
// replay waits for room instead of overflowing the queue, and holds at
// most one of its batches (changes.Resume's) beyond it. Otherwise, past
// the bound, the stream is closed as a slow consumer, and its EventSource
// resumes from its last event.

var (
	sseHeartbeatChunk = sseChunkOf([]byte(sseHeartbeatLine))
	sseLastChunk      = []byte("0\r\n\r\n")
)

// sseChunkOf frames p as one chunk.
func sseChunkOf(p []byte) []byte {
	b := make([]byte, 0, len(p)+12)
	b = strconv.AppendInt(b, int64(len(p)), 16)
	b = append(b, '\r', '\n')
	b = append(b, p...)
	return append(b, '\r', '\n')
}

// sseChunk is ev as one SSE event in one chunk.
func sseChunk(ev feedEvent) []byte {
	buf := getSSEBuf()
	defer putSSEBuf(buf)
	*buf = appendSSE(*buf, ev.cursor, ev.event(), ev.payload)
	return sseChunkOf(*buf)
}

// streamQueue is the part of a feedSink that feeds a hijacked stream.
// Under feedSink.mu but conn.
type streamQueue struct {
	conn      *wsconn.Conn // set before the sink is subscribed, never changed
	open      bool         // the opening status is queued: events may follow
	replaying bool         // a replay runs: offer, hold what does not fit
	held      []broadcast.Frame
	heldBytes int
	holdMax   int    // bound of heldBytes when not replaying (0: feedSink.max)
	slow      func() // counts a stream closed for its held events
}

func (f *feedSink) pushStream(ev feedEvent) {
	wire := ev.wire
	if wire == nil {
		wire = sseChunk(ev)
	}
	fr := broadcast.Frame{Body: wire}
	q := &f.stream
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !q.open || len(q.held) > 0:
		f.holdLocked(fr)
	case q.replaying:
		if queued, closed := q.conn.Offer(fr); !queued && !closed {
			f.holdLocked(fr)
		}
	default:
		q.conn.Send(fr) // past the bound it closes the stream as a slow consumer
	}
}

// holdLocked keeps fr for later, in order; past the bound the stream is
// over.
func (f *feedSink) holdLocked(fr broadcast.Frame) {
	q := &f.stream
	bound := f.max
	if q.holdMax > 0 {
		bound = q.holdMax
	}
	if !q.replaying && q.heldBytes+fr.Len() > bound {
		clear(q.held)
		q.held, q.heldBytes = nil, 0
		if q.conn.Close(wsconn.StatusSlowConsumer, "slow consumer") && q.slow != nil {
			q.slow()
		}
		return
	}
	q.held = append(q.held, fr)
	q.heldBytes += fr.Len()
}

// handOverLocked offers the held frames to the connection in order and
// reports whether none is left (or the connection takes none any more).
func (f *feedSink) handOverLocked() bool {
	q := &f.stream
	for len(q.held) > 0 {
		queued, closed := q.conn.Offer(q.held[0])
		if closed {
			clear(q.held)
			q.held, q.heldBytes = nil, 0
			return true
		}
		if !queued {
			return false
		}
		q.heldBytes -= q.held[0].Len()
		q.held[0] = broadcast.Frame{}
		q.held = q.held[1:]
	}
	q.held = nil
	return true
}

// attachStream queues opening (the subscription's status) and then what
// the subscription delivered meanwhile; events go straight to the
// connection from now on.
func (f *feedSink) attachStream(opening []byte) {
	q := &f.stream
	f.mu.Lock()
	defer f.mu.Unlock()
	q.conn.Send(broadcast.Frame{Body: opening})
	for _, fr := range q.held {
		q.conn.Send(fr)
	}
	clear(q.held)
	q.held, q.heldBytes, q.open = nil, 0, true
}

// startReplay and endReplay bracket a replay; endReplay waits until what
// it held has been handed over.
func (f *feedSink) startReplay() {
	f.mu.Lock()
	f.stream.replaying = true
	f.mu.Unlock()
}

func (f *feedSink) endReplay(ctx context.Context) {
	f.mu.Lock()
	// From now on live changes come: they may add the queue's bound to
	// what the replay left held.
	f.stream.replaying = false
	f.stream.holdMax = f.stream.heldBytes + f.max
	f.mu.Unlock()
	for {
		f.mu.Lock()
		if f.handOverLocked() || ctx.Err() != nil {
			f.stream.holdMax = 0
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		sleepCtx(ctx, replayPoll)
	}
}

// waitForStreamRoom lets a replay go on once what it held is handed over
// and the connection's queue is a quarter full at most.
func (f *feedSink) waitForStreamRoom(ctx context.Context) error {
	for ctx.Err() == nil {
		f.mu.Lock()
		ok := f.handOverLocked() && f.stream.conn.QueuedBytes() <= f.max/4
		f.mu.Unlock()
		if ok {
			return nil
		}
		sleepCtx(ctx, replayPoll)
	}
	return ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// rawSSE is one hijacked SSE stream: its connection's Handler.
type rawSSE struct {
	s       *Server
	conn    wsconn.Conn // in place: wsconn.Conn must not move
	sink    *feedSink
	ctx     context.Context // the opening's and the catch-up's; ends with the stream
	cancel  context.CancelFunc
	release func()        // the client address's place (MaxConnsPerIP)
	opened  chan struct{} // closed when the opening is over, subscribed or not
	leave   []func()      // what the end undoes: the subscription, the rooms; read after opened
	expiry  *time.Timer   // the token's expiry ends the stream; read after opened
	catch   sync.WaitGroup
}

// serveSSEHijacked runs the stream on a hijacked connection. The server's
// wait group, entered by the handler, counts it until it ends (HandleEnd).
func (s *Server) serveSSEHijacked(reqCtx context.Context, nc net.Conn, brw *bufio.ReadWriter, h http.Header, req *feedRequest, after string, release func()) {
	// A client sends nothing after its GET: bytes already read past the
	// request (a pipelined request) end the stream, as its hanging up and
	// anything it sends later do.
	if brw.Reader.Buffered() > 0 {
		nc.Close()
		release()
		s.wg.Done()
		return
	}
	st := &rawSSE{s: s, release: release, opened: make(chan struct{})}
	// The handler's return cancels the request's context; the stream ends
	// when the client hangs up or the server stops.
	st.ctx, st.cancel = context.WithCancel(context.WithoutCancel(reqCtx))
	qb := s.feedQueueBytes(req)
	st.sink = newFeedSink(qb, &s.payloads)
	st.sink.stream.conn = &st.conn
	st.sink.stream.slow = func() { s.stats.feedsSlow.Add(1) }
	err := s.ws.AdoptRaw(nc, nil, &st.conn, st, wsconn.RawConfig{
		Heartbeat:      sseHeartbeatChunk,
		HeartbeatEvery: SSEHeartbeat,
		Final:          sseLastChunk,
		QueueBytes:     qb,
	})
	if err != nil {
		st.cancel()
		release()
		s.wg.Done()
		return
	}
	defer close(st.opened)
	st.conn.Start()
	st.conn.Send(broadcast.Frame{Body: sseHead(h)})
	if !s.trackStream(st) {
		st.conn.Close(wsconn.StatusServiceRestart, "server restarting")
		return
	}
	buf := getSSEBuf()
	defer putSSEBuf(buf)
	var cu catchUp
	var ok bool
	*buf, cu, st.leave, ok = s.subscribeSSE(st.ctx, st.sink, req, after, *buf)
	if !ok {
		st.conn.Close(wsconn.StatusServiceRestart, "server restarting")
		return
	}
	st.sink.attachStream(sseChunkOf(*buf))
	if exp := req.claims.Exp; !exp.IsZero() {
		st.expiry = time.AfterFunc(time.Until(exp), func() { st.expire(exp) })
	}
	if cu != nil {
		st.catch.Go(func() {
			st.sink.startReplay()
			s.runFeedCatchUp(st.ctx, st.sink, cu)
			st.sink.endReplay(st.ctx)
		})
	}
}

// sseHead is the response head of a hijacked stream and its first chunk,
// the reconnection delay.
func sseHead(h http.Header) []byte {
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h.Write(&head)
	head.WriteString("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	head.Write(sseChunkOf([]byte(sseRetry)))
	return head.Bytes()
}

// shed closes the stream for the queue budget: its queue is discarded
// with the close, and what its sink holds back is dropped.
func (st *rawSSE) shed() bool {
	if !st.conn.Close(wsconn.StatusCode(StatusOverloaded), "server overloaded") {
		return false
	}
	st.sink.mu.Lock()
	clear(st.sink.stream.held)
	st.sink.stream.held, st.sink.stream.heldBytes = nil, 0
	st.sink.mu.Unlock()
	return true
}

// HandleMessage is never called: a raw stream's peer has nothing to say.
func (st *rawSSE) HandleMessage(bool, []byte) {}

// expire ends the stream with the system error a channel gets when its
// token expires, as the stream's last event.
func (st *rawSSE) expire(exp time.Time) {
	buf := getSSEBuf()
	*buf = appendTokenExpired(*buf, exp)
	final := append(sseChunkOf(*buf), sseLastChunk...)
	putSSEBuf(buf)
	st.conn.CloseWith(wsconn.StatusNormalClosure, "token expired", final)
}

// HandleEnd runs once the connection is closed: the opening and the
// catch-up stop, the subscription and the rooms end.
func (st *rawSSE) HandleEnd(error) {
	st.cancel()
	<-st.opened
	if st.expiry != nil {
		st.expiry.Stop()
	}
	st.catch.Wait()
	for i := len(st.leave) - 1; i >= 0; i-- {
		st.leave[i]()
	}
	st.s.forgetStream(st)
	st.release()
	st.s.wg.Done()
}

// trackStream registers a stream for the server's shutdown; it reports
// false once the server is stopping.
func (s *Server) trackStream(st *rawSSE) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.streams[st] = struct{}{}
	return true
}

func (s *Server) forgetStream(st *rawSSE) {
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
}

// endStreams closes every hijacked stream (its last chunk goes out), or
// drops it.
func (s *Server) endStreams(drop bool) {
	s.mu.Lock()
	sts := make([]*rawSSE, 0, len(s.streams))
	for st := range s.streams {
		sts = append(sts, st)
	}
	s.mu.Unlock()
	for _, st := range sts {
		if drop {
			st.conn.Drop()
		} else {
			st.conn.Close(wsconn.StatusServiceRestart, "server restarting")
		}
	}
}
