package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/walcast/walcast/auth"
)

// localSecret returns the JWT secret of the local mode, generated on first
// use and kept in dir so that tokens printed once stay valid across restarts.
func localSecret(dir string) (string, error) {
	path := filepath.Join(dir, "jwt_secret")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(raw)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}

// printLocalAccess logs what a developer needs to connect a client.
func printLocalAccess(log *slog.Logger, cfg *serveConfig, port int) {
	anon, err := localAnonKey(cfg)
	if err != nil {
		log.Error("sign anon token", "error", err)
		return
	}
	host := cfg.host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	log.Info("connect a client", "realtime_url", fmt.Sprintf("ws://%s:%d/realtime/v1", host, port), "anon_key", anon,
		"more_keys", "walcast token --role anon --exp 24h --data-dir "+cfg.dataDir)
	log.Info("demo page", "url", fmt.Sprintf("http://%s:%d/", host, port))
}

// localAnonKey signs the local mode's anon key, valid for ten years.
func localAnonKey(cfg *serveConfig) (string, error) {
	return auth.Sign([]byte(cfg.jwtSecret), map[string]any{
		"role": "anon", "iss": "walcast", "exp": time.Now().AddDate(10, 0, 0).Unix(),
	})
}

var slotUnsafe = regexp.MustCompile(`[^a-z0-9_]+`)
