package relay

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/internal/localpg"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/replication"
)

// latencies collects one-way delays and reports their quantiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

func walLSN(b *testing.B, conn *pgx.Conn) uint64 {
	var lsn int64
	if err := conn.QueryRow(context.Background(), "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").Scan(&lsn); err != nil {
		b.Fatal(err)
	}
	return uint64(lsn)
}

const candidatePayload = 200 // bytes of a typical broadcast

// BenchmarkRelayCandidates measures, one message at a time, the delay
// from a node's write to another session's receipt for the ways of
// carrying a broadcast through Postgres: a transactional logical message
// read from a slot (what Relay does), NOTIFY with the payload, and NOTIFY
// as a wake-up over a table.
//
// With WALCAST_BENCH_DURABLE=1 the benchmarks run on a cluster of their
// own with fsync and synchronous_commit on, as deployed; otherwise on the
// test cluster, which has both off (commits then cost no disk flush).
func BenchmarkRelayCandidates(b *testing.B) {
	url := benchDatabase(b)
	ctx := context.Background()
	payload := make([]byte, candidatePayload)
	for i := range payload {
		payload[i] = 'x'
	}
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)

	b.Run("emit-slot", func(b *testing.B) {
		got := make(chan struct{}, 1)
		startStream(b, url, "bench_emit", messageFunc(func(_ context.Context, msg *replication.LogicalMessage) error {
			if msg.Prefix == "bench" {
				got <- struct{}{}
			}
			return nil
		}))
		var l latencies
		before := walLSN(b, admin)
		b.ResetTimer()
		for b.Loop() {
			start := time.Now()
			if _, err := admin.Exec(ctx, "SELECT set_config('synchronous_commit', 'local', true), pg_logical_emit_message(true, 'bench', $1::bytea)", payload); err != nil {
				b.Fatal(err)
			}
			<-got
			l.add(time.Since(start))
		}
		b.StopTimer()
		b.ReportMetric(float64(walLSN(b, admin)-before)/float64(b.N), "WAL-B/op")
		l.report(b)
	})

	listen := func(b *testing.B) *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(context.Background()) })
		if _, err := c.Exec(ctx, "LISTEN bench"); err != nil {
			b.Fatal(err)
		}
		return c
	}
	b.Run("notify-payload", func(b *testing.B) {
		lc := listen(b)
		var l latencies
		before := walLSN(b, admin)
		for b.Loop() {
			start := time.Now()
			if _, err := admin.Exec(ctx, "SELECT pg_notify('bench', $1)", string(payload)); err != nil {
				b.Fatal(err)
			}
			if _, err := lc.WaitForNotification(ctx); err != nil {
				b.Fatal(err)
			}
			l.add(time.Since(start))
		}
		b.ReportMetric(float64(walLSN(b, admin)-before)/float64(b.N), "WAL-B/op")
		l.report(b)
	})
	b.Run("notify-wakeup-table", func(b *testing.B) {
		if _, err := admin.Exec(ctx, "CREATE UNLOGGED TABLE IF NOT EXISTS bench_outbox (id bigserial PRIMARY KEY, body bytea)"); err != nil {
			b.Fatal(err)
		}
		lc := listen(b)
		var l latencies
		var cursor int64
		before := walLSN(b, admin)
		for b.Loop() {
			start := time.Now()
			if _, err := admin.Exec(ctx, "WITH i AS (INSERT INTO bench_outbox (body) VALUES ($1) RETURNING id) SELECT pg_notify('bench', '') FROM i", payload); err != nil {
				b.Fatal(err)
			}
			if _, err := lc.WaitForNotification(ctx); err != nil {
				b.Fatal(err)
			}
			rows, _ := lc.Query(ctx, "SELECT id, body FROM bench_outbox WHERE id > $1 ORDER BY id", cursor)
			if _, err := pgx.ForEachRow(rows, []any{&cursor, new([]byte)}, func() error { return nil }); err != nil {
				b.Fatal(err)
			}
			l.add(time.Since(start))
		}
		b.ReportMetric(float64(walLSN(b, admin)-before)/float64(b.N), "WAL-B/op")
		l.report(b)
	})
}

// BenchmarkRelay publishes broadcasts through one node's Relay at a
// steady rate (-relay.rate per second, default 1000) and measures, on each
// of the other nodes' own Publishers, the delay from Publish to delivery,
// the deliveries per second, and the WAL and statements each broadcast
// costs, with each relay. Each node has its own slot (or LISTEN
// connection), as in a deployment.
func BenchmarkRelay(b *testing.B) {
	for _, mode := range []Mode{ModeWAL, ModeNotify} {
		for _, nodes := range []int{2, 3} {
			b.Run(fmt.Sprintf("relay=%s/nodes=%d", mode, nodes), func(b *testing.B) { benchRelay(b, mode, nodes, 1000) })
		}
	}
}

// stamped is a recorder-free Publisher that measures each envelope's age
// (the payload holds the publish time).
type stamped struct {
	lat *latencies // nil on the publishing node
	n   atomic.Int64
}

func (s *stamped) Publish(e *broadcast.Envelope) {
	if s.lat != nil && len(e.Payload) >= 8 {
		sent := int64(binary.BigEndian.Uint64(e.Payload))
		s.lat.add(time.Duration(time.Now().UnixNano() - sent))
	}
	s.n.Add(1)
}

func benchRelay(b *testing.B, mode Mode, nodes, rate int) {
	url := benchDatabase(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := newPool(b, url)
	var lat latencies
	var pubs []broadcast.Publisher
	var sinks []*stamped
	for i := range nodes {
		r := New(Config{Pool: pool, Node: "n" + strconv.Itoa(i), Mode: mode})
		s := &stamped{}
		if i > 0 {
			s.lat = &lat
		}
		sinks = append(sinks, s)
		pubs = append(pubs, r.Wrap(s))
		if mode == ModeWAL {
			startStream(b, url, "bench_relay_"+strconv.Itoa(i), r)
		} else if err := r.Listen(ctx); err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		go r.Run(ctx)
	}
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(context.Background())
	var stmts0 int64
	admin.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&stmts0)
	before := walLSN(b, admin)
	payload := make([]byte, candidatePayload)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		pubs[0].Publish(&broadcast.Envelope{Topic: "room", Kind: broadcast.KindUser, Event: "e", Payload: payload, Sender: broadcast.Sender{Node: "n0", Conn: 1}})
	}
	want := int64(b.N) * int64(nodes-1)
	deadline := time.Now().Add(30 * time.Second)
	remote := func() (n int64) {
		for _, s := range sinks[1:] {
			n += s.n.Load()
		}
		return n
	}
	for remote() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := remote(); got != want {
		b.Fatalf("delivered %d of %d", got, want)
	}
	var stmts1 int64
	admin.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&stmts1)
	b.ReportMetric(float64(walLSN(b, admin)-before)/float64(b.N), "WAL-B/op")
	b.ReportMetric(float64(stmts1-stmts0)/float64(b.N), "commits/op")
	b.ReportMetric(float64(want)/elapsed.Seconds(), "remote-deliveries/s")
	lat.report(b)
}

var durable struct {
	once sync.Once
	url  string
	err  error
}

// benchDatabase returns a fresh database: on the test cluster, or with
// WALCAST_BENCH_DURABLE=1 on a durable cluster started once for the run
// (stopped by the process's exit: its postmaster follows its data
// directory's removal by pgtest's reaper, or a manual pg_ctl stop).
func benchDatabase(b *testing.B) string {
	if os.Getenv("WALCAST_BENCH_DURABLE") == "" {
		return pgtest.NewDatabase(b)
	}
	durable.once.Do(func() {
		dir, err := os.MkdirTemp("", "walcast-pgtest-durable-")
		if err != nil {
			durable.err = err
			return
		}
		os.Chmod(dir, 0o755)
		c, err := localpg.Start(context.Background(), localpg.Config{DataDir: filepath.Join(dir, "data")})
		if err != nil {
			durable.err = err
			return
		}
		durable.url = c.URL("postgres")
		durableStop = func() { c.Stop(context.Background()); os.RemoveAll(dir) }
	})
	if durable.err != nil {
		b.Fatal(durable.err)
	}
	return durable.url
}

// durableStop stops the durable cluster; TestMain calls it.
var durableStop = func() {}

// BenchmarkNotifyAtRate is BenchmarkRelay's load carried by NOTIFY
// instead, batched the same way (one NOTIFY per round trip holding every
// broadcast queued meanwhile, timestamps only), to one listening node:
// what the alternative would achieve on the same machine.
func BenchmarkNotifyAtRate(b *testing.B) {
	url := benchDatabase(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sender, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close(context.Background())
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN bench_rate"); err != nil {
		b.Fatal(err)
	}
	var lat latencies
	var got atomic.Int64
	go func() {
		for {
			n, err := listener.WaitForNotification(ctx)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			for _, f := range bytesFields(n.Payload) {
				sent, _ := strconv.ParseInt(f, 10, 64)
				lat.add(time.Duration(now - sent))
				got.Add(1)
			}
		}
	}()
	queue := make(chan int64, 1<<16)
	go func() {
		for {
			var batch []byte
			select {
			case <-ctx.Done():
				return
			case t := <-queue:
				batch = strconv.AppendInt(batch, t, 10)
			}
		more:
			for {
				select {
				case t := <-queue:
					batch = strconv.AppendInt(append(batch, ','), t, 10)
				default:
					break more
				}
			}
			if _, err := sender.Exec(ctx, "SELECT pg_notify('bench_rate', $1)", string(batch)); err != nil {
				return
			}
		}
	}()
	interval := time.Second / 1000
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		queue <- time.Now().UnixNano()
	}
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	lat.report(b)
}

func bytesFields(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}
