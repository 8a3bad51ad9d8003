package changes

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// latencySink counts deliveries and samples commit-to-delivery latency
// from the data's commit_timestamp (millisecond precision).
type latencySink struct {
	n       *atomic.Int64
	mu      *sync.Mutex
	samples *[]time.Duration
	sample  bool
}

func (s *latencySink) DeliverChange(_ []uint64, data []byte) {
	s.n.Add(1)
	if !s.sample {
		return
	}
	const key = `"commit_timestamp":"`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	at, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	if err != nil {
		return
	}
	d := time.Since(at)
	s.mu.Lock()
	*s.samples = append(*s.samples, d)
	s.mu.Unlock()
}

// BenchmarkRowSecurity measures postgres_changes to 1,000 subscribers of
// 100 users (10 each) on one table, through a real stream, the authz
// checks and Postgres:
//
//   - own: RLS USING (owner = auth.uid()): every change is checked for
//     the 100 users and delivered to the owner's 10 subscribers;
//   - all: RLS USING (auth.uid() IS NOT NULL): every change is checked
//     and delivered to all 1,000;
//   - off: the same table without row security: delivered to all 1,000,
//     no check.
//
// Two loads: flood, where an op is one transaction of 10 INSERTs from 4
// writers at once, as fast as they go (throughput; latency is then the
// backlog's); and paced, where an op is one INSERT, committed at 30 per
// second (30,000 subscriber × change pairs a second; the latency of a
// steady load). It reports delivered/s (subscriber deliveries), checked/s
// (subscriber × change pairs that went through a row check), p50/p99
// commit-to-sink latency of a sample of subscribers, and VisibleKeysGroups
// calls and per-group queries per change. Run with -benchtime=300x or so.
func BenchmarkRowSecurity(b *testing.B) {
	for _, load := range []string{"flood", "paced"} {
		for _, mode := range []string{"own", "all", "off"} {
			b.Run(load+"/"+mode, func(b *testing.B) { benchRowSecurity(b, mode, load == "paced") })
		}
	}
}

// pacedRate is the commits per second of the paced load.
const pacedRate = 30

func benchRowSecurity(b *testing.B, mode string, paced bool) {
	policy := map[string]string{
		"own": "ALTER TABLE notes ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON notes FOR SELECT USING (owner = auth.uid());",
		"all": "ALTER TABLE notes ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON notes FOR SELECT USING (auth.uid() IS NOT NULL);",
		"off": "",
	}[mode]
	f := newAuthzFixture(b, `CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner uuid, body text);
		`+policy+`
		GRANT SELECT ON notes TO authenticated;
		CREATE PUBLICATION walcast_test FOR TABLE notes`)
	const users, perUser = 100, 10
	var n atomic.Int64
	var mu sync.Mutex
	var samples []time.Duration
	uid := func(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1) }
	for u := range users {
		v := viewer("authenticated", uid(u), nil)
		for k := range perUser {
			s := &latencySink{n: &n, mu: &mu, samples: &samples, sample: k == 0}
			if _, err := f.d.Subscribe(context.Background(), s, bind(v, Binding{Event: "INSERT", Schema: "public", Table: "notes"})); err != nil {
				b.Fatal(err)
			}
		}
	}
	perChange := int64(users * perUser)
	if mode == "own" {
		perChange = perUser
	}
	rowsPerTx, writers := 10, 4
	var tick *time.Ticker
	if paced {
		rowsPerTx, writers = 1, 1
		tick = time.NewTicker(time.Second / pacedRate)
		defer tick.Stop()
	}
	ctx := context.Background()
	// The test cluster runs with synchronous_commit off, where the
	// walsender waits for the WAL writer (up to wal_writer_delay) before it
	// streams a commit; the writers commit synchronously, as an
	// application on a default server does.
	wcfg := f.pool.Config().Copy()
	wcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	wpool, err := pgxpool.NewWithConfig(ctx, wcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer wpool.Close()
	var next atomic.Int64
	st := f.d.RowChecks()
	calls0, queries0, changes0, checked0 := st.Calls.Load(), st.Queries.Load(), st.Changes.Load(), st.Checked.Load()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if tick != nil {
					<-tick.C
				}
				owner := uid(int(next.Load()) % users)
				if _, err := wpool.Exec(ctx, `INSERT INTO notes (owner, body) SELECT $1, 'note ' || g FROM generate_series(1, $2) g`, owner, rowsPerTx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := int64(b.N) * int64(rowsPerTx) * perChange
	deadline := time.Now().Add(2 * time.Minute)
	for n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := n.Load(); got != want {
		b.Fatalf("%d deliveries, want %d", got, want)
	}
	changes := float64(b.N * rowsPerTx)
	b.ReportMetric(float64(want)/elapsed.Seconds(), "delivered/s")
	b.ReportMetric(changes/elapsed.Seconds(), "changes/s")
	if mode != "off" {
		b.ReportMetric(float64(st.Checked.Load()-checked0)/elapsed.Seconds(), "checked/s")
		b.ReportMetric(float64(st.Calls.Load()-calls0)/changes, "calls/change")
		b.ReportMetric(float64(st.Queries.Load()-queries0)/changes, "queries/change")
		b.ReportMetric(float64(st.Changes.Load()-changes0)/changes, "keys/change")
	}
	mu.Lock()
	slices.Sort(samples)
	if len(samples) > 0 {
		b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds())/1000, "p99-ms")
	}
	mu.Unlock()
}
