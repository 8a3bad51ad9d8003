package main

import (
	"io"
	"testing"
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
