package conformance

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeSnippet returns the JavaScript block of README.md that starts
// with marker.
func readmeSnippet(t *testing.T, marker string) string {
	return readmeBlock(t, "js", marker)
}

// readmeBlock returns the README's code block of lang that starts with
// marker (a comment line).
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(build.root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(b), "```"+lang+"\n")[1:] {
		code, _, _ := strings.Cut(block, "```")
		if strings.HasPrefix(code, marker) {
			return code
		}
	}
	t.Fatalf("README.md has no %s block starting with %q", lang, marker)
	return ""
}

// TestReadmeSnippet runs the README's client example as written, but for
// the server's port, on the installed Node: it must print SUBSCRIBED and
// then the paid order only.
func TestReadmeSnippet(t *testing.T) {
	h := newHarness(t)
	if err := h.sql(readmeBlock(t, "sql", "-- orders.sql"), "ALTER PUBLICATION walcast ADD TABLE orders")(); err != nil {
		t.Fatal(err)
	}
	code := readmeSnippet(t, "// orders.mjs")
	if !strings.Contains(code, "ws://localhost:4000/") {
		t.Fatalf("the snippet no longer connects to ws://localhost:4000/:\n%s", code)
	}
	code = strings.ReplaceAll(code, "ws://localhost:4000/", fmt.Sprintf("ws://127.0.0.1:%d/", h.srv.port))

	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.node, "--input-type=module", "-e", code)
	cmd.Dir = build.root // where node_modules is
	cmd.Env = append(os.Environ(), "ANON_KEY="+signHS256(h.srv.secret, map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()}))
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("node exited while waiting for %s; stderr:\n%s", what, stderr.String())
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s after 30 s; stderr:\n%s", what, stderr.String())
		}
		return ""
	}
	if l := next("SUBSCRIBED"); l != "SUBSCRIBED" {
		t.Fatalf("first line %q, want SUBSCRIBED; stderr:\n%s", l, stderr.String())
	}
	// SUBSCRIBED comes with the join reply, which does not wait for the
	// subscription to be live (the snippet does not ask it to): insert
	// until a row arrives.
	for id := 1; ; id += 2 {
		stmts := []string{fmt.Sprintf("INSERT INTO orders VALUES (%d, 'open')", id), fmt.Sprintf("INSERT INTO orders VALUES (%d, 'paid')", id+1)}
		if err := h.sql(stmts...)(); err != nil {
			t.Fatal(err)
		}
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("node exited; stderr:\n%s", stderr.String())
			}
			var n int
			if _, err := fmt.Sscanf(l, "{ id: %d, status: 'paid' }", &n); err != nil || n%2 != 0 {
				t.Fatalf("printed %q, want a paid order as console.log prints it", l)
			}
			return
		case <-time.After(time.Second):
		}
		if id > 60 {
			t.Fatalf("no order printed after 30 inserts; stderr:\n%s\nserver:\n%s", stderr.String(), h.srv.log.String())
		}
	}
}
