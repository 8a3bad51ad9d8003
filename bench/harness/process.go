package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/walcast/walcast/bench/cli"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/bench/stats"
)

// ClusterTempDir makes a temporary directory for a bench run. MkdirTemp
// makes the directory private; when we are root, the cluster runs as the
// postgres user, which must be able to enter it.
func ClusterTempDir(pattern string) (string, error) {
	tmp, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

// BuildWalcast builds ./cmd/walcast of the checkout the bench runs in into
// bin. It builds in the root module: the bench module's go.sum lists only
// what the bench imports, not everything the server needs.
func BuildWalcast(ctx context.Context, bin string) error {
	root, err := cli.RepoRoot()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "building walcast ...")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/walcast")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/walcast: %w\n%s", err, out)
	}
	return nil
}

// AnonToken makes a random JWT secret for walcast serve and an anon token
// signed with it, valid for a day, for the bench's clients.
func AnonToken() (secret, token string, err error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	secret = hex.EncodeToString(raw)
	token, err = auth.Sign([]byte(secret), map[string]any{"role": "anon", "exp": time.Now().Add(24 * time.Hour).Unix()})
	if err != nil {
		return "", "", fmt.Errorf("sign token: %w", err)
	}
	return secret, token, nil
}

// launchServe starts walcast serve on port with its output in logPath and
// env added to the client environment. It does not wait for /healthz.
func launchServe(bin, dbURL, secret, slot, logPath string, port int, env []string) (*ServeProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--database-url", dbURL, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--jwt-secret", secret, "--slot", slot, "--log-level", "warn")
	cmd.Env = append(ClientEnv(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start walcast serve: %w", err)
	}
	s := &ServeProc{Cmd: cmd, Port: port, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// interruptThenKill stops the process of cmd as Ctrl-C would, so that a
// server shuts down cleanly (and writes its CPU profile), and kills it when
// it has not exited after grace. exited is closed once cmd.Wait returned.
// It reports whether the process had to be killed.
func interruptThenKill(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) (killed bool) {
	select {
	case <-exited:
		return false
	default:
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
		return false
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return true
	}
}

// waitFailure is the error of cmd.Wait when waiting failed, and nil when
// the process merely exited non-zero, as a server may after SIGINT.
func waitFailure(waitErr error) error {
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return waitErr
	}
	return nil
}

// healthy reports whether the server at port answers /healthz with 200.
func healthy(port int) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// LoadProcCount is how many load processes carry n connections: procs when
// set, else one per perProc connections, and never more than n.
func LoadProcCount(procs, n, perProc int) int {
	if procs == 0 {
		procs = (n + perProc - 1) / perProc
	}
	return min(procs, n)
}

// StartLoads starts procs load processes of command that share n
// connections, the first ones one more when n does not divide; config gives
// the configuration of each from its source address, share and the number
// of connections before it. The processes started are returned also after
// an error, for the caller to stop.
func StartLoads(ctx context.Context, command string, n, procs int, config func(src string, share, offset int) any) ([]*LoadProc, error) {
	var loads []*LoadProc
	offset := 0
	for i := range procs {
		share := n/procs + stats.Btoi(i < n%procs)
		p, err := startLoad(ctx, command, config(fmt.Sprintf("127.0.0.%d", 2+i), share, offset))
		if err != nil {
			return loads, err
		}
		offset += share
		loads = append(loads, p)
	}
	return loads, nil
}

// AwaitReady waits until every load process reports its connections ready.
func AwaitReady(ctx context.Context, loads []*LoadProc, timeout time.Duration) error {
	for _, p := range loads {
		var ready struct{ Ready bool }
		if err := p.Expect(ctx, &ready, timeout); err != nil {
			return err
		}
	}
	return nil
}

// joinRoomConns is the start of a load process: n connections from client
// to url, parallel at a time, the i-th joined to topic(i), each with
// heartbeats from its dial on (joining thousands takes longer than the
// server's idle timeout). It prints the error, or that the connections are
// ready and how long they took. stop ends the heartbeats, also after an
// error.
func joinRoomConns(ctx context.Context, client *http.Client, url, vsn string, n, parallel int, topic func(i int) string) (w *Window, conns []*RoomConn, stop func(), err error) {
	w = &Window{}
	conns = make([]*RoomConn, n)
	hb := StartHeartbeats(ctx, vsn, HeartbeatInterval)
	start := time.Now()
	err = DialAll(ctx, n, parallel, func(ctx context.Context, i int) error {
		c, err := DialRoom(ctx, client, hb, url, vsn, topic(i), w)
		conns[i] = c
		return err
	})
	if err != nil {
		Emit(map[string]string{"error": err.Error()})
		return w, conns, hb.Stop, err
	}
	Emit(map[string]any{"ready": true, "connect_ms": time.Since(start).Milliseconds()})
	return w, conns, hb.Stop, nil
}
