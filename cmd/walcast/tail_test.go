package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/internal/localpg"
	"github.com/walcast/walcast/internal/pgtest"
)

type tailLine struct {
	Table  string         `json:"table"`
	Type   string         `json:"type"`
	Record map[string]any `json:"record"`
	Cursor string         `json:"cursor"`
}

// tailProcess runs `walcast tail` as a real process and reads its lines.
type tailProcess struct {
	cmd   *exec.Cmd
	lines chan tailLine
	done  chan error
}

func startTail(t *testing.T, args ...string) *tailProcess {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"tail"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &tailProcess{cmd: cmd, lines: make(chan tailLine, 100_000), done: make(chan error, 1)}
	go func() {
		r := bufio.NewReader(stdout)
		for {
			// A line without its newline is cut short by a kill: a line-wise
			// consumer never sees it.
			line, err := r.ReadBytes('\n')
			if err != nil {
				break
			}
			var l tailLine
			if err := json.Unmarshal(line, &l); err != nil {
				t.Errorf("tail printed a line that is not JSON: %q", line)
				continue
			}
			p.lines <- l
		}
		_, _ = io.Copy(io.Discard, stdout)
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w; stderr: %s", err, stderr.String())
		}
		p.done <- err
		close(p.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// take reads n lines, failing the test after timeout.
func (p *tailProcess) take(t *testing.T, n int, timeout time.Duration) []tailLine {
	t.Helper()
	var got []tailLine
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("tail exited after %d of %d lines: %v", len(got), n, <-p.done)
			}
			got = append(got, l)
		case <-deadline:
			t.Fatalf("got %d of %d lines after %s", len(got), n, timeout)
		}
	}
	return got
}

// TestTailKillAndResume kills `walcast tail --slot` in the middle of a stream
// and starts it again with the same slot after the last cursor it printed:
// every committed change arrives exactly once, in order.
func TestTailKillAndResume(t *testing.T) {
	url, conn := newDB(t, "CREATE TABLE t (id int PRIMARY KEY)")
	const rows = 5000
	first := startTail(t, "--database-url", url, "--slot", "kill_test")
	pgtest.WaitForActiveSlot(t, url)
	for i := 1; i <= rows; i += 50 {
		if _, err := conn.Exec(context.Background(), "INSERT INTO t SELECT generate_series($1::int, $1::int + 49)", i); err != nil {
			t.Fatal(err)
		}
	}
	got := first.take(t, 1777, 60*time.Second)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for l := range first.lines { // lines already written before the kill
		got = append(got, l)
	}
	<-first.done

	second := startTail(t, "--database-url", url, "--slot", "kill_test", "--after", got[len(got)-1].Cursor)
	got = append(got, second.take(t, rows-len(got), 60*time.Second)...)
	select {
	case l := <-second.lines:
		t.Fatalf("an extra line arrived: %+v", l)
	case <-time.After(300 * time.Millisecond):
	}
	for i, l := range got {
		if id := l.Record["id"]; id != float64(i+1) {
			t.Fatalf("line %d has id %v, want %d", i, id, i+1)
		}
		if i > 0 && l.Cursor <= got[i-1].Cursor {
			t.Fatalf("cursor %s at line %d does not follow %s", l.Cursor, i, got[i-1].Cursor)
		}
	}
}

func TestTailCountFilterAndEvent(t *testing.T) {
	url, conn := newDB(t, "CREATE TABLE orders (id int PRIMARY KEY, status text, amount numeric); CREATE TABLE other (id int PRIMARY KEY)")
	p := startTail(t, "--database-url", url, "--table", "public.orders", "--filter", "status=eq.paid,amount=gt.100", "--event", "INSERT", "--count", "2")
	pgtest.WaitForActiveSlot(t, url)
	for _, q := range []string{
		"INSERT INTO other VALUES (1)",
		"INSERT INTO orders VALUES (1, 'paid', 50)",
		"INSERT INTO orders VALUES (2, 'open', 500)",
		"INSERT INTO orders VALUES (3, 'paid', 500)",
		"UPDATE orders SET amount = 600 WHERE id = 3",
		"INSERT INTO orders VALUES (4, 'paid', 100.5)",
		"INSERT INTO orders VALUES (5, 'paid', 700)",
	} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	got := p.take(t, 2, 30*time.Second)
	if got[0].Record["id"] != float64(3) || got[1].Record["id"] != float64(4) || got[0].Type != "INSERT" {
		t.Errorf("got %+v, want the inserts of orders 3 and 4", got)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("tail --count 2 exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("tail --count 2 did not exit after 2 changes")
	}
}

// TestTailBadInput checks that bad filters, tables and publications are
// reported clearly, before anything is streamed.
func TestTailBadInput(t *testing.T) {
	url, conn := newDB(t, "CREATE TABLE items (id int PRIMARY KEY, qty int, name text); CREATE TABLE hidden (id int PRIMARY KEY)")
	if _, err := conn.Exec(context.Background(), "CREATE PUBLICATION only_items FOR TABLE items"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown column", []string{"--table", "items", "--filter", "color=eq.red"}, []string{"color"}},
		{"unknown operator", []string{"--table", "items", "--filter", "qty=about.5"}, []string{"about", "qty"}},
		{"malformed value", []string{"--table", "items", "--filter", "qty=eq.many"}, []string{"qty", "many"}},
		{"too many in values", []string{"--table", "items", "--filter", "qty=in.(" + strings.Repeat("1,", 100) + "1)"}, []string{"100"}},
		{"no such table", []string{"--table", "public.nope"}, []string{"public.nope", "no such table"}},
		{"unpublished table", []string{"--table", "hidden", "--publication", "only_items"}, []string{"hidden", "only_items", "ALTER PUBLICATION"}},
		{"bad event", []string{"--event", "UPSERT"}, []string{"UPSERT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, 30*time.Second, nil, append([]string{"tail", "--database-url", url}, tc.args...)...)
			if code == 0 {
				t.Fatalf("exit 0, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
		})
	}
}

// TestWalLevelReplica runs against a cluster without logical decoding: tail
// fails with the setting to change, and serve keeps running while it reports
// the problem.
func TestWalLevelReplica(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "walcast-replica-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user must reach the data dir
		t.Fatal(err)
	}
	cluster, err := localpg.Start(ctx, localpg.Config{DataDir: dir + "/pgdata", Fast: true, Settings: map[string]string{"wal_level": "replica"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	url := cluster.URL("postgres")

	code, _, stderr := runCmd(t, 30*time.Second, nil, "tail", "--database-url", url)
	if code != 1 || !strings.Contains(stderr, "wal_level") || !strings.Contains(stderr, "ALTER SYSTEM SET wal_level = logical") {
		t.Errorf("tail: exit %d, stderr %q; want exit 1 naming the setting and the fix", code, stderr)
	}

	code, _, stderr = runCmd(t, 3*time.Second, nil, "serve", "--database-url", url, "--slot", "replica_test", "--port", "0", "--jwt-secret", "test-secret")
	if code != 0 || !strings.Contains(stderr, "replication cannot start") || !strings.Contains(stderr, "wal_level") {
		t.Errorf("serve: exit %d, stderr %q; want it to keep running and report wal_level", code, stderr)
	}
}
