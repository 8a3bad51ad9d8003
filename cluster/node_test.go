package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		want    [3]time.Duration
	}{
		{name: "defaults", cfg: Config{ID: "n1"}, want: [3]time.Duration{DefaultHeartbeat, DefaultTTL, DefaultSlotTTL}},
		{name: "short", cfg: Config{ID: "n1", Heartbeat: 200 * time.Millisecond, TTL: time.Second, SlotTTL: 3 * time.Second},
			want: [3]time.Duration{200 * time.Millisecond, time.Second, 3 * time.Second}},
		{name: "no id", cfg: Config{}, wantErr: "empty node id"},
		{name: "long id", cfg: Config{ID: strings.Repeat("x", 64)}, wantErr: "longer than 63"},
		{name: "ttl within two heartbeats", cfg: Config{ID: "n", Heartbeat: time.Second, TTL: 2 * time.Second}, wantErr: "must exceed two heartbeat"},
		{name: "slot ttl under ttl", cfg: Config{ID: "n", TTL: time.Minute, SlotTTL: time.Second}, wantErr: "slot TTL"},
		{name: "negative heartbeat", cfg: Config{ID: "n", Heartbeat: -time.Second}, wantErr: "heartbeat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]time.Duration{tc.cfg.Heartbeat, tc.cfg.TTL, tc.cfg.SlotTTL}; got != tc.want {
				t.Errorf("durations %v, want %v", got, tc.want)
			}
		})
	}
}
