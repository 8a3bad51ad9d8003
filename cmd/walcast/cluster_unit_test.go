package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSlotFor(t *testing.T) {
	tests := map[string]string{
		"n1":                    "walcast_n1",
		"Walcast-1":             "walcast_walcast_1",
		"web.eu-west.example":   "walcast_web_eu_west_example",
		strings.Repeat("a", 48): "walcast_" + strings.Repeat("a", 48),
		"a..b":                  "walcast_a_b",
	}
	for id, want := range tests {
		if got := slotFor(id); got != want {
			t.Errorf("slotFor(%q) = %q, want %q", id, got, want)
		}
	}
}

// The default node id is made once and kept: a restart (or a recreated
// container with the data dir on a volume) gets the same one.
func TestDefaultNodeID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, persisted, err := defaultNodeID(dir)
	if err != nil || !persisted || !nodeIDPattern.MatchString(id) {
		t.Fatalf("defaultNodeID = %q, %v, %v", id, persisted, err)
	}
	if err := os.WriteFile(filepath.Join(dir, nodeIDFile), []byte("kept-7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if again, _, err := defaultNodeID(dir); again != "kept-7" || err != nil {
		t.Errorf("second defaultNodeID = %q, %v; want the kept one", again, err)
	}
	if err := os.WriteFile(filepath.Join(dir, nodeIDFile), []byte("bad id!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := defaultNodeID(dir); err == nil || !strings.Contains(err.Error(), "not a node id") {
		t.Errorf("bad file: %v", err)
	}
}

func TestServeClusterFlags(t *testing.T) {
	tests := []struct {
		args     []string
		env      map[string]string
		wantErr  string
		wantID   string
		wantSlot string
	}{
		{args: []string{"--node-id", "n1"}, wantID: "n1", wantSlot: "walcast_n1"},
		{args: []string{"--node-id", "n1", "--slot", "mine"}, wantID: "n1", wantSlot: "mine"},
		{env: map[string]string{"WALCAST_NODE_ID": "from-env"}, wantID: "from-env", wantSlot: "walcast_from_env"},
		{args: []string{"--node-id", "-bad"}, wantErr: "--node-id"},
		{args: []string{"--node-id", "n1", "--heartbeat", "5s", "--node-ttl", "8s"}, wantErr: "two heartbeat"},
		{args: []string{"--node-id", "n1", "--node-ttl", "1m", "--slot-ttl", "30s"}, wantErr: "slot TTL"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			env := map[string]string{"WALCAST_DATA_DIR": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := parseServe(tc.args, func(k string) string { return env[k] }, &strings.Builder{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseServe: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.node.ID != tc.wantID || cfg.stream.Slot != tc.wantSlot || cfg.node.Slot != tc.wantSlot {
				t.Errorf("node %q slot %q/%q; want %q, %q", cfg.node.ID, cfg.stream.Slot, cfg.node.Slot, tc.wantID, tc.wantSlot)
			}
		})
	}
}
