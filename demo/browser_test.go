package demo

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/chromium"
	"github.com/walcast/walcast/internal/localpg"
	"github.com/walcast/walcast/internal/pgtest"
)

// TestBrowser opens the demo page of a real `walcast serve` in local mode
// in two headless Chromium tabs, alice's and bob's, and checks what a
// newcomer would see: the table's rows, a row inserted with SQL appearing
// in both, a filter that keeps a row out, a refused filter, a chat message
// from one reaching the other, each seeing the other online, and bob
// leaving the online list when his tab closes.
//
// Screenshots go to $WALCAST_DEMO_SCREENSHOTS (relative to the repository
// root; docs/ holds the committed ones) or to a temporary directory.
func TestBrowser(t *testing.T) {
	chromium.Path(t)
	if _, err := localpg.FindBinDir(); err != nil {
		missing(t, "Postgres server binaries for local mode: "+err.Error())
	}
	srv := startLocalServe(t)
	shots := screenshotDir(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromium.Allocator(ctx, t, chromedp.WindowSize(1200, 820))
	defer cancelAlloc()
	alice, closeAlice := chromedp.NewContext(alloc)
	defer closeAlice()
	console := &consoleLog{}
	open(t, alice, "alice", srv.url+"/?name=alice", console) // starts the browser
	bob, closeBob := chromedp.NewContext(alice)              // a second tab
	defer closeBob()
	open(t, bob, "bob", srv.url+"/?name=bob", console)
	defer func() {
		if c := console.String(); strings.Contains(c, "exception:") || strings.Contains(c, "error:") {
			t.Error("the page threw an exception or the browser logged an error")
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("browser console:\n%s", console)
		}
	}()

	pages := map[string]context.Context{"alice": alice, "bob": bob}
	both := []string{"alice", "bob"}
	waitAll := func(what string, names []string, js string) {
		t.Helper()
		for _, name := range names {
			waitFor(t, pages[name], name+": "+what, js)
		}
	}

	waitAll("the table is live with the three seeded rows", both,
		`live() && rowNames().join() === 'plum,pear,apple'`)
	waitAll("sees the other online", both,
		`online().sort().join() === 'alice (you),bob' || online().sort().join() === 'alice,bob (you)'`)

	srv.sql(t, "INSERT INTO public.demo_items (name, qty) VALUES ('kiwi', 5)")
	waitAll("the inserted row appears", both, `rowNames().join() === 'kiwi,plum,pear,apple' && row('kiwi')[2] === '5'`)
	srv.sql(t, "UPDATE public.demo_items SET qty = 6 WHERE name = 'kiwi'")
	waitAll("the updated row changes", both, `row('kiwi')[2] === '6'`)
	srv.sql(t, "DELETE FROM public.demo_items WHERE name = 'pear'")
	waitAll("the deleted row goes", both, `rowNames().join() === 'kiwi,plum,apple'`)

	// A filter the server refuses says why; a good one replaces it.
	applyFilter(t, bob, "nope=eq.1")
	waitFor(t, bob, "bob: a refused filter shows the server's error",
		`document.getElementById('filter-status').dataset.state === 'error' && document.getElementById('filter-status').textContent.includes('nope')`)
	applyFilter(t, bob, "qty=gt.10")
	waitFor(t, bob, "bob: the filtered table is live and starts empty", `live() && rowNames().length === 0`)
	// Changes arrive in commit order: once fig (qty 20) is on bob's page,
	// lime (qty 1), committed before it, has been filtered out.
	srv.sql(t, "INSERT INTO public.demo_items (name, qty) VALUES ('lime', 1)")
	srv.sql(t, "INSERT INTO public.demo_items (name, qty) VALUES ('fig', 20)")
	waitFor(t, alice, "alice (no filter) gets lime and fig", `rowNames().join() === 'fig,lime,kiwi,plum,apple'`)
	waitFor(t, bob, "bob (qty=gt.10) gets fig only", `rowNames().join() === 'fig'`)

	run(t, alice, "alice sends a chat message",
		chromedp.SendKeys(chromedp.ID("chat-input"), "hello from alice"),
		chromedp.Click(chromedp.CSS("#chat-form button")))
	waitAll("the message arrives", both, `messages().includes('alice: hello from alice')`)
	run(t, bob, "bob answers",
		chromedp.SendKeys(chromedp.ID("chat-input"), "hi alice, bob here"),
		chromedp.Click(chromedp.CSS("#chat-form button")))
	waitAll("the answer arrives", both, `messages().join('|') === 'alice: hello from alice|bob: hi alice, bob here'`)

	screenshot(t, alice, filepath.Join(shots, "demo.png"))
	screenshot(t, bob, filepath.Join(shots, "demo-filter.png"))

	// Closing bob's tab closes his socket: alice sees him leave.
	closeBob()
	waitFor(t, alice, "alice sees bob leave", `online().join() === 'alice (you)' && document.getElementById('online-count').textContent === '1'`)
	waitFor(t, alice, "alice is still connected", `document.getElementById('status').dataset.state === 'open'`)
}

// helpers is evaluated before every check: small readers of the page.
const helpers = `
const live = () => document.getElementById('filter-status').dataset.state === 'live';
const rows = () => [...document.querySelectorAll('#rows tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent));
const rowNames = () => rows().map((r) => r[1]);
const row = (name) => rows().find((r) => r[1] === name) || [];
const online = () => [...document.querySelectorAll('#online li')].map((li) => li.textContent);
const messages = () => [...document.querySelectorAll('#messages li')].map((li) => li.querySelector('.from').textContent + ': ' + li.lastChild.textContent);
`

// waitFor polls js (an expression, with helpers in scope) in the page until
// it is true.
func waitFor(t *testing.T, page context.Context, what, js string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, 20*time.Second)
	defer cancel()
	expr := "(() => {" + helpers + "return !!(" + js + ")})()"
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			dump := "(() => {" + helpers + "return JSON.stringify({status: document.getElementById('status').textContent, filter: document.getElementById('filter-status').textContent, rows: rows(), online: online(), messages: messages()})})()"
			state, _ := chromedp.Run(page, chromedp.Evaluate[string](dump))
			t.Fatalf("%s: not seen within 20s (%v); the page shows %s", what, err, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func run(t *testing.T, page context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func open(t *testing.T, page context.Context, name, url string, console *consoleLog) {
	t.Helper()
	// The first action of a context opens its tab (and the browser, for
	// the first tab): no timeout here, it would close them.
	err := chromedp.Listen(page, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			console.add(name, string(ev.Type)+": "+strings.Join(args, " "))
		case *cdplog.EventEntryAdded: // the browser's own: failed loads, CSP
			console.add(name, string(ev.Entry.Level)+": "+ev.Entry.Text+" "+ev.Entry.URL)
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				console.add(name, "exception: "+d.Text+" "+d.Exception.Description)
			} else {
				console.add(name, "exception: "+d.Text)
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	run(t, page, name+" opens the page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("rows")))
}

func applyFilter(t *testing.T, page context.Context, filter string) {
	t.Helper()
	run(t, page, "apply filter "+filter,
		chromedp.SetValue(chromedp.ID("filter"), filter),
		chromedp.Click(chromedp.CSS("#filter-form button")))
}

func screenshot(t *testing.T, page context.Context, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("WALCAST_DEMO_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) add(page, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, page+": "+line)
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// requireChromium returns the browser to drive: $WALCAST_CHROMIUM, else
// Debian's chromium. Missing, the test skips, or fails under CI.
// ---- walcast serve in local mode

type localServe struct {
	url, dbURL string
}

// startLocalServe builds walcast and runs `walcast serve` in local mode (its
// own cluster in a temporary data dir) on free ports, until the test ends.
func startLocalServe(t *testing.T) *localServe {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "walcast")
	build := exec.Command("go", "build", "-o", bin, "./cmd/walcast")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/walcast: %v\n%s", err, out)
	}
	readInputs(t)
	dataDir := pgtest.TempDir(t)
	port, pgPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "serve",
		"--data-dir", dataDir,
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--local-pg-port", strconv.Itoa(pgPort),
		"--slot", "walcast_demo_test",
	)
	cmd.Env = serveEnv()
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// SIGTERM stops walcast, which stops its cluster before the data
		// dir is removed (a cleanup registered earlier, so run later).
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if !cmd.ProcessState.Success() {
				t.Errorf("walcast serve exited with %v after SIGTERM", cmd.ProcessState)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("walcast serve still running 30s after SIGTERM; killed")
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("walcast serve log:\n%s", log.String())
		}
	})
	s := &localServe{
		url:   fmt.Sprintf("http://127.0.0.1:%d", port),
		dbURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pgPort),
	}
	deadline := time.Now().Add(90 * time.Second) // initdb on a busy machine
	for {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("walcast serve exited (%v):\n%s", cmd.ProcessState, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("walcast serve not listening after 90s:\n%s", log.String())
		}
	}
	pgtest.WaitForActiveSlot(t, s.dbURL)
	return s
}

// sql runs one statement on the local cluster, as a developer would with
// psql.
func (s *localServe) sql(t *testing.T, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serveEnv is the test's environment without the variables walcast serve
// reads, so that only the flags configure it (and it runs in local mode).
func serveEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WALCAST_") || name == "DATABASE_URL" || name == "JWT_SECRET" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// readInputs reads the Go and SQL files the walcast binary is built from.
// The test binary does not import cmd/walcast, so this is what tells go
// test's cache that a change there invalidates a cached pass.
func readInputs(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || name == "bench") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".sql", ".mod", ".sum":
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
