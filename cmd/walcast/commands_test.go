package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walcast/walcast/auth"
)

// TestHelpExitsZero: -h prints the flags and is not an error.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "tail", "migrate", "token", "health"} {
		t.Run(cmd, func(t *testing.T) {
			code, _, stderr := runCmd(t, 5*time.Second, nil, cmd, "-h")
			if code != 0 || !strings.Contains(stderr, "-log-format") {
				t.Errorf("exit %d, stderr %q; want 0 and the flags, --log-format among them", code, stderr)
			}
		})
	}
}

// TestLogFlagsEveryCommand: every command takes --log-format and checks it.
func TestLogFlagsEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"serve"}, {"tail", "--database-url", "postgres://x"}, {"migrate", "--database-url", "postgres://x"},
		{"token", "--jwt-secret", "s"}, {"health"},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, _, stderr := runCmd(t, 5*time.Second, nil, append(args, "--log-format", "yaml")...)
			if code != 2 || !strings.Contains(stderr, `log format "yaml"`) {
				t.Errorf("exit %d, stderr %q; want 2 naming the format", code, stderr)
			}
		})
	}
	code, out, stderr := runCmd(t, 5*time.Second, nil, "token", "--jwt-secret", "s", "--log-format", "json", "--log-level", "debug")
	if code != 0 || out == "" {
		t.Errorf("token --log-format json: exit %d, stderr %q", code, stderr)
	}
}

func TestDatabaseURLTypo(t *testing.T) {
	for _, cmd := range []string{"serve", "tail", "migrate"} {
		t.Run(cmd, func(t *testing.T) {
			args := []string{cmd, "--database-url", "postgress://u:secret@localhost/app"}
			if cmd == "serve" {
				args = append(args, "--jwt-secret", "s")
			}
			code, _, stderr := runCmd(t, 5*time.Second, nil, args...)
			if code != 2 || !strings.Contains(stderr, `"postgress://" is not postgres://`) || strings.Contains(stderr, "secret") {
				t.Errorf("exit %d, stderr %q; want 2 naming the scheme, without the password", code, stderr)
			}
		})
	}
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	fileSecret := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(dir, "jwt_secret"), []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		secret   string
		wantRole string
		wantExp  time.Duration
	}{
		{"flag secret", nil, []string{"--role", "anon", "--exp", "1h", "--jwt-secret", "flag-secret"}, "flag-secret", "anon", time.Hour},
		{"env secret", map[string]string{"JWT_SECRET": "env-secret"}, []string{"--role", "service_role", "--exp", "10m"}, "env-secret", "service_role", 10 * time.Minute},
		{"local mode's secret", nil, []string{"--data-dir", dir, "--role", "authenticated"}, fileSecret, "authenticated", time.Hour},
		{"data dir from env", map[string]string{"WALCAST_DATA_DIR": dir}, nil, fileSecret, "anon", time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCmd(t, 5*time.Second, tc.env, append([]string{"token"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 {
				t.Fatalf("stdout %q: want the JWT alone on one line", out)
			}
			claims, err := auth.NewVerifier([]byte(tc.secret)).Verify(strings.TrimSpace(out))
			if err != nil {
				t.Fatalf("token does not verify with the configured secret: %v", err)
			}
			if claims.Role != tc.wantRole {
				t.Errorf("role %q, want %q", claims.Role, tc.wantRole)
			}
			if left := time.Until(claims.Exp); left > tc.wantExp || left < tc.wantExp-time.Minute {
				t.Errorf("expires in %s, want %s", left, tc.wantExp)
			}
			if _, err := auth.NewVerifier([]byte("another secret")).Verify(strings.TrimSpace(out)); err == nil {
				t.Error("token verifies with another secret")
			}
		})
	}
	t.Run("no secret", func(t *testing.T) {
		code, out, stderr := runCmd(t, 5*time.Second, nil, "token", "--data-dir", t.TempDir())
		if code != 2 || out != "" || !strings.Contains(stderr, "--jwt-secret") || !strings.Contains(stderr, "walcast serve") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2 saying where a secret comes from", code, out, stderr)
		}
	})
}

// TestHealthCommand: the container healthcheck's exit code follows the
// endpoint's status.
func TestHealthCommand(t *testing.T) {
	var status atomic.Int32 // the server's goroutines read it
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
		w.Write([]byte(`{"status":"x"}`))
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		status int
		url    string
		want   int
	}{
		{"ready", http.StatusOK, srv.URL + "/readyz", 0},
		{"not ready", http.StatusServiceUnavailable, srv.URL + "/readyz", 1},
		{"nothing listening", http.StatusOK, "http://" + freeClosedPort(t) + "/healthz", 1},
		{"bad url", http.StatusOK, "::", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(int32(tc.status))
			code, _, stderr := runCmd(t, 10*time.Second, nil, "health", "--url", tc.url)
			if code != tc.want {
				t.Errorf("exit %d (stderr %q), want %d", code, stderr, tc.want)
			}
		})
	}
}
