package main

import (
	"context"
	"slices"
	"testing"
)

func TestWithDefaultCommand(t *testing.T) {
	for _, tc := range []struct{ args, want []string }{
		{nil, []string{"suite"}},
		{[]string{"--quick"}, []string{"suite", "--quick"}},
		{[]string{"-only", "drain"}, []string{"suite", "-only", "drain"}},
		{[]string{"drain", "--quick"}, []string{"drain", "--quick"}},
		{[]string{"--help"}, []string{"--help"}},
		{[]string{"-h"}, []string{"-h"}},
	} {
		if got := withDefaultCommand(tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("withDefaultCommand(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestRunExitCodes checks the dispatch's exit codes: help of every command
// (which every platform prints), an unknown command and a bad flag.
func TestRunExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"help"}, 0},
		{[]string{"drain", "-h"}, 0},
		{[]string{"latency", "--help"}, 0},
		{[]string{"filters", "-h"}, 0},
		{[]string{"fanout", "-h"}, 0},
		{[]string{"idle", "-h"}, 0},
		{[]string{"suite", "-h"}, 0},
		{[]string{"chart", "-h"}, 0},
		{[]string{"nosuch"}, 2},
		{[]string{"chart", "--nosuch"}, 2},
		{[]string{"chart", "extra"}, 2},
	} {
		if got := run(context.Background(), tc.args); got != tc.want {
			t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
