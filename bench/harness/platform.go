package harness

import (
	"fmt"
	"runtime"
)

// Supported says whether the workloads can run on this system. They read
// the CPU times and memory of the processes they compare from Linux's
// /proc (and start Postgres with internal/localpg), so that elsewhere they
// would report zeros rather than measurements; they refuse to run instead.
// The chart and the unit tests run everywhere.
func Supported() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the workloads read process CPU and memory from /proc, which %s does not have: run them on Linux", runtime.GOOS)
	}
	return nil
}
