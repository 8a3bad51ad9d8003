package main

import (
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
