//go:build linux

package wsconn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumPage opens a WebSocket to the echo server given in the query,
// exchanges text and binary messages (checking every echo), closes with
// 1000 and reports the outcome to /report.
const chromiumPage = `<!doctype html><meta charset="utf-8"><script>
const report = (r) => fetch("/report?r=" + encodeURIComponent(r));
try {
  const ws = new WebSocket(new URLSearchParams(location.search).get("ws"));
  ws.binaryType = "arraybuffer";
  const sizes = [0, 1, 125, 126, 65535, 65536, 300000];
  const want = [];
  for (const n of sizes) {
    want.push("é".repeat(n >> 1) + (n & 1 ? "x" : ""));
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31) & 255;
    want.push(b);
  }
  let got = 0;
  ws.onopen = () => { for (const m of want) ws.send(m); };
  ws.onmessage = (e) => {
    const w = want[got++];
    let same;
    if (typeof w === "string") same = e.data === w;
    else {
      const b = new Uint8Array(e.data);
      same = b.length === w.length && b.every((v, i) => v === w[i]);
    }
    if (!same) { report("message " + got + " differs"); ws.close(); return; }
    if (got === want.length) ws.close(1000, "done");
  };
  ws.onclose = (e) => report(e.code === 1000 && got === want.length ? "ok " + got : "closed " + e.code + " after " + got);
  ws.onerror = () => report("error");
} catch (e) { report("exception " + e); }
</script>`

// TestPeerChromium: headless Chromium's WebSocket as the peer.
func TestPeerChromium(t *testing.T) {
	chromium := needTool(t, "/usr/bin/chromium", "Chromium")
	s := newEchoServer(t, Options{})
	reports := make(chan string, 1)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/report" {
			select {
			case reports <- r.URL.Query().Get("r"):
			default:
			}
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(chromiumPage))
	}))
	defer page.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), page.URL+"/?ws="+s.wsURL())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Chromium's own helper processes are in its process group.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	select {
	case r := <-reports:
		if !strings.HasPrefix(r, "ok ") {
			t.Fatalf("Chromium reports %q", r)
		}
		t.Logf("Chromium: %s messages echoed, closed with 1000", strings.TrimPrefix(r, "ok "))
	case <-ctx.Done():
		t.Fatalf("no report from Chromium within 90 s; its output:\n%s", out.String())
	}
	if code := CloseStatus(s.end()); code != StatusNormalClosure {
		t.Fatalf("server saw close %d, want 1000", code)
	}
}
