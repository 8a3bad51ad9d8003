package main

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/internal/pgtest"
)

// TestTailFirstConnectionFails: a first connection that is refused or
// rejected ends tail at once with a message naming the cause, with or
// without --table.
func TestTailFirstConnectionFails(t *testing.T) {
	url0 := pgtest.NewDatabase(t)
	u, err := url.Parse(url0)
	if err != nil {
		t.Fatal(err)
	}
	closed := freeClosedPort(t)
	with := func(f func(u *url.URL)) string {
		c := *u
		f(&c)
		return c.String()
	}
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"refused", with(func(u *url.URL) { u.Host = closed }), "connection refused"},
		{"bad role", with(func(u *url.URL) { u.User = url.User("no_such_role") }), "no_such_role"},
		{"bad database", with(func(u *url.URL) { u.Path = "/no_such_database" }), "no_such_database"},
	}
	for _, tc := range tests {
		for _, table := range [][]string{nil, {"--table", "public.t"}} {
			t.Run(tc.name+strings.Join(table, "="), func(t *testing.T) {
				start := time.Now()
				code, _, stderr := runCmd(t, 30*time.Second, nil, append([]string{"tail", "--database-url", tc.url}, table...)...)
				if code != 1 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "cannot connect") {
					t.Errorf("exit %d, stderr %q; want 1 naming %q", code, stderr, tc.want)
				}
				if took := time.Since(start); took > 20*time.Second {
					t.Errorf("took %s to give up", took)
				}
			})
		}
	}
}

func freeClosedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestTailFilterNeedsOneTable: a filter is checked against one table's
// columns, so it needs exactly one named table.
func TestTailFilterNeedsOneTable(t *testing.T) {
	for _, tables := range [][]string{nil, {"--table", "a", "--table", "b"}, {"--table", "public.*"}} {
		t.Run(strings.Join(tables, " "), func(t *testing.T) {
			args := append([]string{"tail", "--database-url", "postgres://127.0.0.1:1/x", "--filter", "id=eq.1"}, tables...)
			code, _, stderr := runCmd(t, 5*time.Second, nil, args...)
			if code != 2 || !strings.Contains(stderr, "--filter needs exactly one --table") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

// TestTailRetriesLaterLoss: once streaming, a lost connection is retried
// and tail goes on printing.
func TestTailRetriesLaterLoss(t *testing.T) {
	url, _ := newDB(t, "CREATE TABLE t (id int PRIMARY KEY)")
	p := startTail(t, "--database-url", url, "--table", "t")
	pgtest.WaitForActiveSlot(t, url)
	insert(t, url, 1)
	if got := p.take(t, 1, 30*time.Second); got[0].Record["id"] != float64(1) {
		t.Fatalf("got %+v", got)
	}
	pgtest.Restart(t)
	pgtest.WaitForActiveSlot(t, url) // tail reconnected with a new temporary slot
	insert(t, url, 2)
	if got := p.take(t, 1, 30*time.Second); got[0].Record["id"] != float64(2) {
		t.Fatalf("after the restart got %+v", got)
	}
	select {
	case err := <-p.done:
		t.Fatalf("tail exited: %v", err)
	default:
	}
}

func insert(t *testing.T, url string, id int) {
	t.Helper()
	conn := connect(t, url)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "INSERT INTO t VALUES ($1)", id); err != nil {
		t.Fatal(err)
	}
}
