package pgtest

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestDatabaseName(t *testing.T) {
	tests := []struct {
		name     string
		testName string
		prefix   string
	}{
		{name: "plain", testName: "TestFoo", prefix: "testfoo_"},
		{name: "subtest", testName: "TestFoo/bar baz#01", prefix: "testfoo_bar_baz_01_"},
		{name: "leading symbols", testName: "/#Test", prefix: "test_"},
		{name: "nothing usable", testName: "###", prefix: "test_"},
		{name: "unicode", testName: "TestÉté", prefix: "test_t_"},
		{name: "long", testName: "Test" + strings.Repeat("Long", 30), prefix: "testlonglong"},
	}
	valid := regexp.MustCompile(`^[a-z0-9]([a-z0-9_]*[a-z0-9])?_[0-9a-f]{8}$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := databaseName(tc.testName)
			if !strings.HasPrefix(got, tc.prefix) {
				t.Errorf("databaseName(%q) = %q, want prefix %q", tc.testName, got, tc.prefix)
			}
			if len(got) > maxIdentLen {
				t.Errorf("databaseName(%q) = %q: %d bytes, want <= %d", tc.testName, got, len(got), maxIdentLen)
			}
			if !valid.MatchString(got) {
				t.Errorf("databaseName(%q) = %q: not a plain identifier with a suffix", tc.testName, got)
			}
			if again := databaseName(tc.testName); again == got {
				t.Errorf("databaseName(%q) twice = %q: want distinct names", tc.testName, got)
			}
		})
	}
}

// fakeTB records Skip and Fatal instead of ending the test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Skip(...any)  { f.skipped = true }
func (f *fakeTB) Fatal(...any) { f.failed = true }

func TestUnavailableFailsUnderCI(t *testing.T) {
	tests := []struct {
		ci          string
		wantSkipped bool
		wantFailed  bool
	}{
		{ci: "", wantSkipped: true},
		{ci: "true", wantFailed: true},
		{ci: "1", wantFailed: true},
	}
	for _, tc := range tests {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			f := &fakeTB{}
			unavailable(f, errors.New("no binaries"))
			if f.skipped != tc.wantSkipped || f.failed != tc.wantFailed {
				t.Fatalf("skipped=%v failed=%v, want skipped=%v failed=%v", f.skipped, f.failed, tc.wantSkipped, tc.wantFailed)
			}
		})
	}
}
