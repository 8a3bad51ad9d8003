package main

import (
	"io"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
)

func TestServiceRoleFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"default", nil, nil, "service_role", false},
		{"environment", nil, map[string]string{"WALCAST_SERVICE_ROLE": "admin"}, "admin", false},
		{"flag wins", []string{"--service-role", "ops"}, map[string]string{"WALCAST_SERVICE_ROLE": "admin"}, "ops", false},
		{"empty", []string{"--service-role", " "}, nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseServe accepted %v", tc.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.serviceRole != tc.want {
				t.Errorf("service role %q, want %q", cfg.serviceRole, tc.want)
			}
		})
	}
}

func TestBroadcastRetentionFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		bytes   int
		age     time.Duration
		wantErr bool
	}{
		{"default", nil, nil, broadcast.DefaultRetainBytes, broadcast.DefaultRetainAge, false},
		{"environment", nil, map[string]string{"WALCAST_BROADCAST_RETAIN_BYTES": "0", "WALCAST_BROADCAST_RETAIN_AGE": "1h"}, 0, time.Hour, false},
		{"flags win", []string{"--broadcast-retain-bytes", "1000", "--broadcast-retain-age", "30s"}, map[string]string{"WALCAST_BROADCAST_RETAIN_BYTES": "0"}, 1000, 30 * time.Second, false},
		{"negative bytes", []string{"--broadcast-retain-bytes", "-1"}, nil, 0, 0, true},
		{"negative age", []string{"--broadcast-retain-age", "-1s"}, nil, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseServe accepted %v", tc.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := cfg.server.BroadcastRetention; r == nil || r.MaxBytes != tc.bytes || r.MaxAge != tc.age {
				t.Errorf("broadcast retention %+v, want %d bytes and %s", r, tc.bytes, tc.age)
			}
		})
	}
}
