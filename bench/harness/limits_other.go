//go:build !unix

package harness

import "time"

// raiseFileLimit does nothing: there is no RLIMIT_NOFILE to raise.
func raiseFileLimit() error { return nil }

// FileLimit is "unknown": there is no RLIMIT_NOFILE.
func FileLimit() string { return "unknown" }

// SelfCPU is 0: the workloads that read it refuse to run here (Supported).
func SelfCPU() time.Duration { return 0 }
