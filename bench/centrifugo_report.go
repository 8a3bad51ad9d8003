package main

import (
	"debug/buildinfo"
	"fmt"
	"io"
	"runtime"
)

// roomBenchEnv is what the fanout and idle reports say about the run.
type roomBenchEnv struct {
	machine string          // the Machine line of the report and of --json
	context string          // load average, duration, file limit
	peer    *centrifugoPeer // nil with --peer none
}

// roomMachineLine describes the machine and the servers' builds.
func roomMachineLine(walcastBin string, peer *centrifugoPeer) string {
	goVersion := runtime.Version()
	if bi, err := buildinfo.ReadFile(walcastBin); err == nil {
		goVersion = bi.GoVersion
	}
	line := fmt.Sprintf("Machine: %d cores (%s), %s/%s; walcast built with %s", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, goVersion)
	if peer != nil {
		line += fmt.Sprintf("; %s (%s)", peer.name, peer.about)
	}
	return line + "."
}

// writePeerSetup records the peer's version and exact configuration.
func writePeerSetup(w io.Writer, peer *centrifugoPeer) {
	if peer == nil {
		return
	}
	fmt.Fprintf(w, "%s: %s, binary %s. Configuration of every run (port: a free one per run; this is the first run's file):\n\n", peer.name, peer.about, peer.bin)
	fmt.Fprintf(w, "```json\n%s\n```\n\n", peer.config)
}
