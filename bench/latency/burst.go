package latency

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// burstConsumer drains the burst from slot and returns the time from its
// first row to its last and the CPU time it used.
type burstConsumer struct {
	name string
	run  func(ctx context.Context, slot string, k, rows int64) (wall, cpu time.Duration, err error)
}

// burstRuns inserts a burst of one-row transactions as fast as the load
// connections can while nothing consumes, after creating a template slot.
// Each consumer then drains identical WAL from its own copy of that slot,
// consumers alternating, and is timed from its first row to its last.
func (b *latencyBench) burstRuns(ctx context.Context) (_ []stats.Result, note string, err error) {
	_, k := b.Marker()
	tmpl := "bench_burst_tmpl"
	if _, err := b.Conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", tmpl); err != nil {
		return nil, "", fmt.Errorf("create template slot: %w", err)
	}
	defer func() {
		if derr := harness.DropSlot(context.WithoutCancel(ctx), b.Conn, tmpl); derr != nil && err == nil {
			err = derr
		}
	}()
	if _, err := b.WaitQuiet(ctx); err != nil {
		return nil, "", err
	}
	fmt.Fprintf(os.Stderr, "burst: inserting for %s ...\n", b.opt.burst)
	began := time.Now()
	rows, err := runBurst(ctx, b.Load, b.opt.burst, k)
	if err != nil {
		return nil, "", err
	}
	took := time.Since(began)
	note = fmt.Sprintf("%s one-row transactions inserted by %d connections in %.1f s (%s rows/s), with no consumer running",
		stats.Group(float64(rows)), len(b.Load), took.Seconds(), stats.Group(stats.RowsPerSecond(int(rows), took)))

	consumers := []burstConsumer{
		{"bare pgoutput receiver", b.burstBare},
		{"walcast tail", b.burstTail},
		{"walcast serve, 1 WebSocket client", b.burstWalcast},
	}
	results := make([]stats.Result, len(consumers))
	for i, c := range consumers {
		results[i] = stats.Result{Load: "burst", Consumer: c.name, Rows: int(rows)}
	}
	for run := 1; run <= b.opt.burstRuns; run++ {
		for i, c := range consumers {
			if _, err := b.WaitQuiet(ctx); err != nil {
				return nil, "", err
			}
			slot := fmt.Sprintf("bench_burst_%d_%d", run, i)
			if _, err := b.Conn.Exec(ctx, "SELECT pg_copy_logical_replication_slot($1, $2)", tmpl, slot); err != nil {
				return nil, "", fmt.Errorf("copy slot: %w", err)
			}
			wall, cpu, err := c.run(ctx, slot, k, rows)
			if derr := harness.DropSlot(context.WithoutCancel(ctx), b.Conn, slot); derr != nil && err == nil {
				err = derr
			}
			if err != nil {
				return nil, "", fmt.Errorf("%s run %d: %w", c.name, run, err)
			}
			results[i].Wall = append(results[i].Wall, wall)
			results[i].CPU = append(results[i].CPU, cpu)
			fmt.Fprintf(os.Stderr, "burst %s run %d: %s rows/s (%.2f CPU-s)\n", c.name, run, stats.Group(stats.RowsPerSecond(int(rows), wall)), cpu.Seconds())
		}
	}
	return results, note, nil
}

func (b *latencyBench) burstBare(ctx context.Context, slot string, k, rows int64) (wall, cpu time.Duration, err error) {
	before := harness.SelfCPU()
	r, err := startBare(ctx, b.URL, slot, k)
	if err != nil {
		return 0, 0, err
	}
	defer r.Stop()
	if err := harness.WaitDelivered(ctx, r.Recv.Load, rows, r.failed, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	r.Stop()
	if err := r.failed(); err != nil {
		return 0, 0, err
	}
	if got := r.Recv.Load(); got != rows {
		return 0, 0, fmt.Errorf("received %d of %d rows", got, rows)
	}
	return time.Duration(r.Last - r.First), harness.SelfCPU() - before, nil
}

// burstWalcast starts walcast serve on slot while holding the slot, so the
// client can join before the server streams; then releases it.
func (b *latencyBench) burstWalcast(ctx context.Context, slot string, k, rows int64) (wall, cpu time.Duration, err error) {
	release, err := harness.HoldSlot(ctx, b.URL, slot)
	if err != nil {
		return 0, 0, err
	}
	defer release()
	profile := ""
	if b.opt.cpuprofile != "" {
		profile = fmt.Sprintf("%s-burst-%s.prof", b.opt.cpuprofile, slot)
	}
	srv, err := harness.StartServe(ctx, b.Bin, b.URL, b.Secret, slot, filepath.Join(b.Tmp, slot+".log"), profile, harness.CatchUpQueueEnv)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		c, serr := srv.Stop()
		cpu = c
		if err == nil {
			err = serr
		}
	}()
	set, err := dialClients(ctx, b.WsURL(srv.Port), 1, k, false, false)
	if err != nil {
		return 0, 0, fmt.Errorf("connect subscriber: %w", err)
	}
	defer set.close()
	release()
	if err := harness.WaitDelivered(ctx, set.received, rows, srv.ExitedEarly, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	lost, why := set.lostConns()
	set.close()
	c := set.clients[0]
	if got := c.Recv.Load(); got != rows {
		if lost > 0 {
			return 0, 0, fmt.Errorf("received %d of %d rows; connection lost: %v", got, rows, why)
		}
		return 0, 0, fmt.Errorf("received %d of %d rows", got, rows)
	}
	return time.Duration(c.Last - c.First), 0, nil
}

func (b *latencyBench) burstTail(ctx context.Context, slot string, k, rows int64) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, b.Bin, "tail", "--database-url", b.URL, "--slot", slot,
		"--table", "public.t", "--count", strconv.FormatInt(rows, 10))
	cmd.Env = harness.ClientEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("start walcast tail: %w", err)
	}
	mark := []byte(`"k":` + strconv.FormatInt(k, 10) + `,`)
	var n, first, last int64
	br := bufio.NewReaderSize(stdout, 256<<10)
	for {
		line, rerr := br.ReadSlice('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' && bytes.Contains(line, mark) {
			now := time.Now().UnixNano()
			if n == 0 {
				first = now
			}
			last = now
			n++
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != bufio.ErrBufferFull {
			return 0, 0, fmt.Errorf("read walcast tail output: %w", rerr)
		}
	}
	if err := cmd.Wait(); err != nil {
		return 0, 0, fmt.Errorf("walcast tail: %w\n%s", err, harness.LastLines(stderr.String(), 20))
	}
	if n != rows {
		return 0, 0, fmt.Errorf("walcast tail printed %d of %d rows", n, rows)
	}
	return time.Duration(last - first), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// consumerNote describes how the burst consumers are timed.
func burstMethod(rows string) string {
	return strings.Join([]string{
		"Each consumer drains the burst from its own copy of a slot created just before it, one at a time, consumers alternating;",
		"time is first row to last row as seen in the bench process (the bare receiver in-process; walcast tail's stdout lines, written through its 64 KB buffer,",
		"so its first timestamp comes a few hundred rows late and its rate reads high by about that much out of " + rows + ";",
		"the WebSocket client's frames). CPU: the consumer process (walcast tail, walcast serve without the client), or the bench process for the bare receiver.",
	}, " ")
}
