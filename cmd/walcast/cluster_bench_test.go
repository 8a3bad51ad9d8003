// Like the cluster tests, the benchmark runs node processes through their
// Unix-only helpers.

//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/relay"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkClusterBroadcast runs, with each relay, 1, 2 and 3 node processes on one
// database, spreads WALCAST_BENCH_SUBS subscribers (default 1000) over
// them, and has a client on the first node push b.N broadcasts at
// WALCAST_BENCH_RATE per second (default 1000), from rate/50 connections
// (each under the per-connection limit of 100 messages per second). It
// reports deliveries per
// second, the p50/p99 delay from push to receipt for subscribers on the
// sender's node and on the others, and the Postgres cost per broadcast
// (WAL bytes, commits). The subscribers run in the benchmark process: on a
// small machine they, not the nodes, may be the bottleneck.
func BenchmarkClusterBroadcast(b *testing.B) {
	subs, rate := envInt("WALCAST_BENCH_SUBS", 1000), envInt("WALCAST_BENCH_RATE", 1000)
	for _, mode := range []relay.Mode{relay.ModeWAL, relay.ModeNotify} {
		for _, nodes := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("relay=%s/nodes=%d/subs=%d/rate=%d", mode, nodes, subs, rate), func(b *testing.B) {
				testRelay.Store(b, mode)
				defer testRelay.Delete(b)
				benchCluster(b, nodes, subs, rate)
			})
		}
	}
}

type benchSub struct {
	ws     *websocket.Conn
	remote bool
	lat    []time.Duration
	n      atomic.Int64
}

var stampField = []byte(`"t":`)

func (s *benchSub) read() {
	for {
		_, b, err := s.ws.Read(context.Background())
		if err != nil {
			return
		}
		i := bytes.Index(b, stampField)
		if i < 0 {
			continue
		}
		j := i + len(stampField)
		k := j
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		sent, _ := strconv.ParseInt(string(b[j:k]), 10, 64)
		s.lat = append(s.lat, time.Duration(time.Now().UnixNano()-sent))
		s.n.Add(1)
	}
}

func benchCluster(b *testing.B, nodes, subs, rate int) {
	url := pgtest.NewDatabase(b)
	procs := make([]*nodeProc, nodes)
	for i := range procs {
		procs[i] = startBenchNode(b, url, "b"+strconv.Itoa(i+1))
	}
	const topic = "realtime:bench"
	all := make([]*benchSub, subs)
	var wg sync.WaitGroup
	for i := range all {
		n := i % nodes
		c := benchDial(b, procs[n].addr)
		all[i] = &benchSub{ws: c, remote: n != 0}
		benchJoin(b, c, topic)
		wg.Go(all[i].read)
	}
	// A connection may send 100 messages per second (Supabase's default
	// limit), so the load comes from rate/50 connections on the first node.
	senders := make([]*websocket.Conn, max(1, rate/50))
	for i := range senders {
		senders[i] = benchDial(b, procs[0].addr)
		benchJoin(b, senders[i], topic)
		go func() {
			for {
				if _, _, err := senders[i].Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	walBefore := queryDB(b, url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
	commitsBefore := queryDB(b, url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
	interval := time.Second / time.Duration(rate)
	ctx := context.Background()
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		msg := fmt.Sprintf(`["1","%d","%s","broadcast",{"type":"broadcast","event":"e","payload":{"t":%d}}]`, i, topic, time.Now().UnixNano())
		if err := senders[i%len(senders)].Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N)
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range all {
		for s.n.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var total int64
	var local, remote []time.Duration
	for _, s := range all {
		total += s.n.Load()
		s.ws.CloseNow()
	}
	wg.Wait()
	for _, s := range all {
		if s.remote {
			remote = append(remote, s.lat...)
		} else {
			local = append(local, s.lat...)
		}
	}
	// Under overload subscribers fall behind and are closed as slow
	// consumers: the share delivered says so rather than failing the run.
	b.ReportMetric(100*float64(total)/float64(want*int64(subs)), "delivered-%")
	walAfter := queryDB(b, url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
	commitsAfter := queryDB(b, url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
	num := func(s []string) float64 { f, _ := strconv.ParseFloat(s[0], 64); return f }
	b.ReportMetric(float64(total)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric((num(walAfter)-num(walBefore))/float64(b.N), "WAL-B/bcast")
	b.ReportMetric((num(commitsAfter)-num(commitsBefore))/float64(b.N), "commits/bcast")
	for _, q := range []struct {
		name string
		d    []time.Duration
	}{{"local", local}, {"remote", remote}} {
		if len(q.d) == 0 {
			continue
		}
		slices.Sort(q.d)
		b.ReportMetric(float64(q.d[len(q.d)/2].Microseconds())/1000, q.name+"-p50-ms")
		b.ReportMetric(float64(q.d[len(q.d)*99/100].Microseconds())/1000, q.name+"-p99-ms")
	}
}

// startBenchNode runs a node with the default heartbeat and TTLs, so the
// housekeeping counted in commits/bcast is what a deployment pays.
func startBenchNode(b *testing.B, url, id string) *nodeProc {
	return startNode(b, url, id, "--heartbeat", "2s", "--node-ttl", "10s", "--slot-ttl", "1h")
}

func benchDial(b *testing.B, addr string) *websocket.Conn { return dialWS(b, addr, "2.0.0") }

func benchJoin(b *testing.B, c *websocket.Conn, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(`["1","1","`+topic+`","phx_join",{"config":{"broadcast":{"self":false}}}]`)); err != nil {
		b.Fatal(err)
	}
	_, reply, err := c.Read(ctx)
	if err != nil || !bytes.Contains(reply, []byte(`"status":"ok"`)) {
		b.Fatalf("join: %s %v", reply, err)
	}
}
