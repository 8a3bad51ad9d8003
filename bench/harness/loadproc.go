package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Load processes. The fanout and idle benchmarks run their WebSocket
// clients in child processes, this binary re-executed with the load mode
// and its configuration (JSON) in the environment: the clients' CPU and
// memory then never count as the server's, and each process gets its own
// descriptor limit and source address (127.0.0.2, 127.0.0.3, ...), so that
// neither the per-process file limit nor the ~28k ephemeral ports of one
// address cap the connection count.
//
// Parent and child talk in JSON lines: the child writes events to stdout,
// the parent writes commands to its stdin; stderr is passed through.
const (
	EnvLoadMode   = "WALCAST_BENCH_LOAD"
	envLoadConfig = "WALCAST_BENCH_LOAD_CONFIG"
)

// LoadProc is a running load process, seen from the parent.
type LoadProc struct {
	Cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan []byte
	done  chan struct{}
	err   error
}

// startLoad re-executes this binary as command (fanout or idle) in load
// mode with cfg.
func startLoad(ctx context.Context, command string, cfg any) (*LoadProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, command)
	cmd.Env = append(ClientEnv(), EnvLoadMode+"=1", envLoadConfig+"="+string(b))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start load process: %w", err)
	}
	p := &LoadProc{Cmd: cmd, in: in, lines: make(chan []byte, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		for sc.Scan() {
			p.lines <- bytes.Clone(sc.Bytes())
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Send writes one command line.
func (p *LoadProc) Send(cmd string) error {
	_, err := fmt.Fprintln(p.in, cmd)
	return err
}

// Expect decodes the next line into v; a line {"error": "..."} is an error.
func (p *LoadProc) Expect(ctx context.Context, v any, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-p.lines:
		if !ok {
			<-p.done
			return fmt.Errorf("load process %d exited: %v", p.Cmd.Process.Pid, p.err)
		}
		var e struct{ Error string }
		if json.Unmarshal(line, &e) == nil && e.Error != "" {
			return fmt.Errorf("load process %d: %s", p.Cmd.Process.Pid, e.Error)
		}
		return json.Unmarshal(line, v)
	case <-t.C:
		return fmt.Errorf("load process %d: no answer within %v", p.Cmd.Process.Pid, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop closes stdin (the child exits on EOF) and waits, killing it after 10 s.
func (p *LoadProc) Stop() {
	p.in.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// ---- the child side

// LoadConfig decodes the child's configuration.
func LoadConfig(v any) error {
	return json.Unmarshal([]byte(os.Getenv(envLoadConfig)), v)
}

// Emit writes one event line to the parent.
func Emit(v any) {
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}

// Commands returns the parent's command lines; the channel closes on EOF.
func Commands() <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// SourceClient is an HTTP client for WebSocket dials from the local
// address src (any port).
func SourceClient(src string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// DialAll runs dial(i) for i in [0, n) with at most par in flight and
// returns the first error.
func DialAll(ctx context.Context, n, par int, dial func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := dial(ctx, i); err != nil {
				cancel(fmt.Errorf("connection %d: %w", i+1, err))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
