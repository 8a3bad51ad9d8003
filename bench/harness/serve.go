package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ServeProc is a "walcast serve" child process.
type ServeProc struct {
	Cmd     *exec.Cmd
	Port    int
	logPath string
	exited  chan struct{}
	waitErr error
}

// StartServe starts walcast serve on a free port with its stderr in logPath
// (and a CPU profile in profile, when given) and waits until it answers
// /healthz.
func StartServe(ctx context.Context, bin, dbURL, secret, slot, logPath, profile string, extraEnv ...string) (*ServeProc, error) {
	port, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	env := extraEnv
	if profile != "" {
		env = append(env, "WALCAST_CPUPROFILE="+profile)
	}
	s, err := launchServe(bin, dbURL, secret, slot, logPath, port, env)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if healthy(port) {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("walcast serve exited at start (%v):\n%s", s.waitErr, s.LogTail())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("walcast serve not healthy after 30 s:\n%s", s.LogTail())
		}
	}
}

// ServeOnSlot starts walcast serve as startServe does, with its log in the
// bench's temporary directory, streaming from slot. stop stops the server
// and drops the slot, and returns the first error of the two.
func (b *PGBench) ServeOnSlot(ctx context.Context, slot, profile string, env ...string) (srv *ServeProc, stop func() error, err error) {
	srv, err = StartServe(ctx, b.Bin, b.URL, b.Secret, slot, filepath.Join(b.Tmp, slot+".log"), profile, env...)
	if err != nil {
		return nil, nil, err
	}
	return srv, func() error {
		_, err := srv.Stop()
		if derr := DropSlot(context.WithoutCancel(ctx), b.Conn, slot); derr != nil && err == nil {
			err = derr
		}
		return err
	}, nil
}

// Stop shuts the server down as Ctrl-C would (so a CPU profile is written),
// killing it after 20 s, and returns its CPU time.
func (s *ServeProc) Stop() (cpu time.Duration, err error) {
	if interruptThenKill(s.Cmd, s.exited, 20*time.Second) {
		return 0, fmt.Errorf("walcast serve did not stop within 20 s of SIGINT:\n%s", s.LogTail())
	}
	if st := s.Cmd.ProcessState; st != nil {
		cpu = st.UserTime() + st.SystemTime()
	}
	return cpu, waitFailure(s.waitErr)
}

// ExitedEarly reports whether the server is gone while it should run.
func (s *ServeProc) ExitedEarly() error {
	select {
	case <-s.exited:
		return fmt.Errorf("walcast serve exited (%v):\n%s", s.waitErr, s.LogTail())
	default:
		return nil
	}
}

// LogCount counts the lines of the server log that contain substr.
func (s *ServeProc) LogCount(substr string) int {
	b, _ := os.ReadFile(s.logPath)
	return bytes.Count(b, []byte(substr))
}

func (s *ServeProc) LogTail() string {
	b, _ := os.ReadFile(s.logPath)
	return LastLines(string(b), 20)
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CatchUpQueueEnv gives the server of a drain or burst run a 256 MiB
// outbound queue per connection. With the default 1 MiB bound, walcast
// closes a subscriber that falls 1 MiB behind the decoder (4000 slow
// consumer), by design: the replication loop never waits for a client. A
// backlog decodes at over 100k rows/s, faster than the bench's own
// subscriber can start reading on this 2-core machine, so with the default
// it would measure that close, not the throughput. Deployments that serve
// catch-up consumers raise --queue-bytes the same way.
const CatchUpQueueEnv = "WALCAST_QUEUE_BYTES=268435456"
