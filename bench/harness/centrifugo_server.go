package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// centrifugoConfig is the configuration of every Centrifugo server of the
// benchmarks (anchors.md §11.3, §11.4), with v6 key names as
// "centrifugo defaultconfig" lists them. Centrifugo only warns about an
// unknown key, and log level error hides the warning: a misspelt key is
// silently ignored, so these were checked against a run at log level info.
//   - client.insecure: anonymous connections without a token, as the
//     walcast side uses an anon key;
//   - channel.without_namespace: clients may subscribe, and publish from
//     sockets that are not subscribed (the publishers);
//   - http_api.insecure: the recipe's setting, unused by the benchmarks;
//   - health: the /health endpoint that tells when the server is up.
//
// tuned adds CentrifugoTuning: per-connection buffers as small as its
// documentation suggests for many idle connections.
func centrifugoConfig(port int, tuned bool) []byte {
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"client":      map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
		"http_api":    map[string]any{"insecure": true},
		"health":      map[string]any{"enabled": true},
		"channel": map[string]any{"without_namespace": map[string]any{
			"allow_subscribe_for_client": true,
			"allow_publish_for_client":   true,
		}},
	}
	if tuned {
		cfg["websocket"] = map[string]any{"read_buffer_size": 512, "write_buffer_size": 512, "use_write_buffer_pool": true}
	}
	b, _ := json.Marshal(cfg) // sorted keys: the same text every run
	return b
}

// CentrifugoTuning says what the tuned Centrifugo changes, for the reports.
const CentrifugoTuning = `websocket.read_buffer_size 512, websocket.write_buffer_size 512 and websocket.use_write_buffer_pool true ` +
	`(its defaults, 0, take gorilla/websocket's default buffers; its documentation suggests smaller ones to save memory per connection)`

// CentrifugoPeer starts Centrifugo servers, a fresh process each time.
type CentrifugoPeer struct {
	bin, dir    string // the binary; where configs and logs go
	Name, about string // "Centrifugo v6.9.1"; version details
	config      []byte // of the first server started, for the report
	starts      int
}

func newCentrifugoPeer(ctx context.Context, bin, dir string) *CentrifugoPeer {
	p := &CentrifugoPeer{bin: bin, dir: dir}
	p.Name, p.about = centrifugoIdentity(ctx, bin)
	return p
}

func (p *CentrifugoPeer) system() System {
	return System{Name: p.Name, Proto: ProtoCentrifugo, Start: func(ctx context.Context, env ...string) (benchServer, error) {
		return p.start(ctx, false, env...)
	}}
}

// ProtobufSuffix ends the name of the peer's system speaking protobuf.
const ProtobufSuffix = ", protobuf"

// ProtobufSystem is Centrifugo on its defaults with clients speaking its
// protobuf protocol instead of JSON.
func (p *CentrifugoPeer) ProtobufSystem() System {
	return System{Name: p.Name + ProtobufSuffix, Proto: ProtoCentrifugoProtobuf, Start: func(ctx context.Context, env ...string) (benchServer, error) {
		return p.start(ctx, false, env...)
	}}
}

// TunedSystem is Centrifugo with CentrifugoTuning, a row of its own.
func (p *CentrifugoPeer) TunedSystem() System {
	return System{Name: p.Name + ", small buffers", Proto: ProtoCentrifugo, Start: func(ctx context.Context, env ...string) (benchServer, error) {
		return p.start(ctx, true, env...)
	}}
}

// start runs Centrifugo on a free port of 127.0.0.1 with env added and
// waits until /health answers.
func (p *CentrifugoPeer) start(ctx context.Context, tuned bool, env ...string) (benchServer, error) {
	p.starts++
	port, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	cfg := centrifugoConfig(port, tuned)
	if p.config == nil && !tuned {
		p.config = cfg
	}
	base := filepath.Join(p.dir, fmt.Sprintf("centrifugo_%d", p.starts))
	if err := os.WriteFile(base+".json", cfg, 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(base + ".log")
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(p.bin, "--config", base+".json")
	cmd.Env = append(peerEnv(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.bin, err)
	}
	s := &centrifugoProc{cmd: cmd, port: port, log: base + ".log", exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !s.healthy() {
		if err := s.ExitedEarly(); err != nil {
			return nil, err
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("centrifugo not healthy within 30 s (%v):\n%s", ctx.Err(), s.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s, nil
}

// peerEnv is the environment of the peer: the clients' one without
// CENTRIFUGO_* variables, which would override the config file.
func peerEnv() []string {
	var env []string
	for _, kv := range ClientEnv() {
		if !strings.HasPrefix(kv, "CENTRIFUGO_") {
			env = append(env, kv)
		}
	}
	return env
}

// centrifugoProc is a running Centrifugo server.
type centrifugoProc struct {
	cmd     *exec.Cmd
	port    int
	log     string
	exited  chan struct{}
	waitErr error
}

func (s *centrifugoProc) Pid() int { return s.cmd.Process.Pid }

// WsURL is the endpoint of Centrifugo's bidirectional WebSocket transport
// (JSON protocol); vsn only concerns walcast.
func (s *centrifugoProc) WsURL(string) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/connection/websocket", s.port)
}

func (s *centrifugoProc) LogPath() string { return s.log }

// SlowCloses is unknown: Centrifugo logs slow-client disconnects below
// level error. The clients count their closed sockets instead.
func (s *centrifugoProc) SlowCloses() int { return -1 }

func (s *centrifugoProc) healthy() bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", s.port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *centrifugoProc) ExitedEarly() error {
	select {
	case <-s.exited:
		return fmt.Errorf("centrifugo exited (%v):\n%s", s.waitErr, s.LogTail())
	default:
		return nil
	}
}

// Stop shuts Centrifugo down with SIGINT, killing it after 20 s.
func (s *centrifugoProc) Stop() error {
	if interruptThenKill(s.cmd, s.exited, 20*time.Second) {
		return fmt.Errorf("centrifugo did not stop within 20 s of SIGINT:\n%s", s.LogTail())
	}
	return waitFailure(s.waitErr)
}

func (s *centrifugoProc) LogTail() string {
	b, _ := os.ReadFile(s.log)
	return LastLines(string(b), 20)
}
