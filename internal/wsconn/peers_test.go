package wsconn

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// needTool returns the path of a tool a peer test runs, skipping the test
// when it is missing, or failing it in CI (CI=true), where it must be
// there.
func needTool(t *testing.T, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if p, err := exec.LookPath(path); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (%s): CI must run this peer", what, path)
	}
	t.Skipf("%s not found (%s)", what, path)
	return ""
}

// repoRoot is where node_modules lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func peerSizes() []int { return []int{0, 1, 125, 126, 32 << 10, 32<<10 + 1, 65535, 65536, 1 << 20} }

func peerPayload(n int, bin bool) []byte {
	if !bin {
		return []byte(strings.Repeat("é", n/2) + strings.Repeat("x", n%2))
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 31)
	}
	return b
}

// TestPeerCoderWebsocket: coder/websocket's client exchanges text and
// binary messages of every length class (fragmented too), pings and
// closes.
func TestPeerCoderWebsocket(t *testing.T) {
	s := newEchoServer(t, Options{MaxMessageBytes: 2 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	for _, n := range peerSizes() {
		for _, bin := range []bool{false, true} {
			typ := websocket.MessageText
			if bin {
				typ = websocket.MessageBinary
			}
			p := peerPayload(n, bin)
			if err := ws.Write(ctx, typ, p); err != nil {
				t.Fatal(err)
			}
			gotTyp, got, err := ws.Read(ctx)
			if err != nil || gotTyp != typ || !bytes.Equal(got, p) {
				t.Fatalf("%d bytes, binary %v: echo %v of %d bytes, %v", n, bin, gotTyp, len(got), err)
			}
		}
	}
	// A message written in pieces goes out as fragments.
	w, err := ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"frag", "mented ", "message"} {
		if _, err := w.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Ping waits for the pong; the read running meanwhile takes it.
	readErr := make(chan error, 1)
	go func() {
		_, got, err := ws.Read(ctx)
		if err == nil && string(got) != "fragmented message" {
			err = fmt.Errorf("fragmented message echoed as %q", got)
		}
		readErr <- err
	}()
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	go ws.Read(ctx) // takes the pong and, later, the close
	if err := ws.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	if code := CloseStatus(s.end()); code != StatusNormalClosure {
		t.Fatalf("server saw close %d, want 1000", code)
	}
}

// TestPeerNodeWS: Node's ws package (testdata/ws_peer.mjs) as the peer.
func TestPeerNodeWS(t *testing.T) {
	node := needTool(t, "node", "Node.js")
	root := repoRoot(t)
	needTool(t, filepath.Join(root, "node_modules", "ws", "package.json"), "the ws package (npm ci)")
	s := newEchoServer(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, filepath.Join("testdata", "ws_peer.mjs"), s.wsURL()).CombinedOutput()
	if err != nil {
		t.Fatalf("ws peer: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
	if code := CloseStatus(s.end()); code != StatusNormalClosure {
		t.Fatalf("server saw close %d, want 1000", code)
	}
}
