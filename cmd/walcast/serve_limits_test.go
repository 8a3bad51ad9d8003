package main

import (
	"io"
	"strings"
	"testing"
)

func TestServeLimitFlags(t *testing.T) {
	env := map[string]string{"WALCAST_MAX_CONNS_PER_IP": "7"}
	getenv := func(k string) string { return env[k] }
	base := []string{"--database-url", "postgres://x", "--jwt-secret", "s"}
	cfg, err := parseServe(append(base, "--max-payload-bytes", "256000", "--max-header-bytes", "8192"), getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.server.MaxPayloadBytes != 256000 || cfg.server.MaxConnsPerIP != 7 || cfg.maxHeaderBytes != 8192 {
		t.Errorf("payload %d, conns per IP %d, header bytes %d", cfg.server.MaxPayloadBytes, cfg.server.MaxConnsPerIP, cfg.maxHeaderBytes)
	}
	cfg, err = parseServe(base, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.maxHeaderBytes != defaultMaxHeaderBytes || cfg.server.MaxConnsPerIP != 0 {
		t.Errorf("defaults: header bytes %d, conns per IP %d", cfg.maxHeaderBytes, cfg.server.MaxConnsPerIP)
	}
	for _, bad := range [][]string{{"--max-header-bytes", "100"}, {"--max-conns-per-ip", "-1"}, {"--max-payload-bytes", "0"}} {
		if _, err := parseServe(append(base, bad...), getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "--max-") {
			t.Errorf("%v: error %v", bad, err)
		}
	}
}
