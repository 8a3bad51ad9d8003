package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveProcess is `walcast serve --log-format json` run as a real process.
type serveProcess struct {
	cmd       *exec.Cmd
	port      int    // from the "walcast serving" line
	adminAddr string // likewise, when --admin-port was given
	mu        sync.Mutex
	logs      []map[string]any
	done      chan error
}

// startServe runs serve in dir and waits until it listens.
func startServe(t *testing.T, dir string, args ...string) *serveProcess {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--log-format", "json", "--port", "0"}, args...)...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, done: make(chan error, 1)}
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				rec = map[string]any{"msg": sc.Text()}
			}
			p.mu.Lock()
			p.logs = append(p.logs, rec)
			p.mu.Unlock()
			if rec["msg"] == "walcast serving" {
				serving <- rec
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case rec := <-serving:
		p.port = int(rec["port"].(float64))
		p.adminAddr, _ = rec["admin_addr"].(string)
	case err := <-p.done:
		p.done <- err
		t.Fatalf("serve exited before serving: %v\n%s", err, p.logText())
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not start:\n%s", p.logText())
	}
	return p
}

// stop sends SIGTERM and waits for the process; it is idempotent.
func (p *serveProcess) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		t.Errorf("serve did not stop on SIGTERM")
	}
}

func (p *serveProcess) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, rec := range p.logs {
		fmt.Fprintln(&b, rec)
	}
	return b.String()
}

// logged returns the first log record with this message.
func (p *serveProcess) logged(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range p.logs {
		if rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

func (p *serveProcess) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path)
}

func (p *serveProcess) adminURL(path string) string {
	if p.adminAddr == "" {
		return p.url(path)
	}
	_, port, _ := strings.Cut(p.adminAddr, "]:")
	if port == "" {
		_, port, _ = strings.Cut(p.adminAddr, ":")
	}
	return "http://127.0.0.1:" + port + path
}

// get returns the status and body of a GET.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := get(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s after %s, want %d", url, code, body, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
