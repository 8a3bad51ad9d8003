package harness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times (100 on Linux).
const clockTicks = 100

// CPUSnap is a point-in-time reading of CPU counters: the whole machine's,
// this process's, and the server process's (when there is one).
type CPUSnap struct {
	at                  time.Time
	busyTicks           uint64 // machine: user, nice, system, irq, softirq
	stealTicks          uint64 // machine: taken by the hypervisor
	self, Server        time.Duration
	pg                  map[int]time.Duration // per process of the cluster
	machineOK, serverOK bool
}

// CPUUse is the CPU used between two snapshots, in cores (1 = one core busy
// all the time).
type CPUUse struct{ secs, Machine, Steal, Pg, Bench, Server float64 }

// TakeCPU reads the counters; postmaster is the cluster's postmaster PID.
func TakeCPU(postmaster, serverPid int) CPUSnap {
	s := CPUSnap{at: time.Now(), self: SelfCPU(), pg: clusterCPU(postmaster)}
	s.busyTicks, s.stealTicks, s.machineOK = machineBusy()
	if serverPid > 0 {
		s.Server, s.serverOK = ProcCPU(serverPid)
	}
	return s
}

func (a CPUSnap) Until(b CPUSnap) CPUUse {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return CPUUse{}
	}
	u := CPUUse{secs: secs, Bench: (b.self - a.self).Seconds() / secs}
	if a.machineOK && b.machineOK {
		u.Machine = float64(b.busyTicks-a.busyTicks) / clockTicks / secs
		u.Steal = float64(b.stealTicks-a.stealTicks) / clockTicks / secs
	}
	var pg time.Duration
	for pid, t := range b.pg {
		pg += t - a.pg[pid] // a process started in between counts whole
	}
	u.Pg = pg.Seconds() / secs
	if a.serverOK && b.serverOK {
		u.Server = (b.Server - a.Server).Seconds() / secs
	}
	return u
}

// machineBusy reads the "cpu" line of /proc/stat: the time spent working
// (user, nice, system, irq, softirq; guest time is part of user) and the
// time stolen by the hypervisor.
func machineBusy() (busy, steal uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, 0, false
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		if v[i], err = strconv.ParseUint(string(f[i+1]), 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return v[0] + v[1] + v[2] + v[5] + v[6], v[7], true
}

// ProcCPU reads utime + stime of a process from /proc/PID/stat.
func ProcCPU(pid int) (time.Duration, bool) {
	user, sys, _, ok := procTimes(pid)
	return user + sys, ok
}

// procTimes reads the user (utime) and kernel (stime) CPU time of a
// process and its parent's pid from /proc/PID/stat.
func procTimes(pid int) (user, sys time.Duration, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, false
	}
	// The command name is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, 0, 0, false
	}
	// After the name: state is field 3, ppid 4, utime 14 and stime 15.
	pp, err0 := strconv.Atoi(string(f[1]))
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return time.Duration(ut) * time.Second / clockTicks, time.Duration(st) * time.Second / clockTicks, pp, true
}

// clusterCPU reads the CPU time of the postmaster and its children.
func clusterCPU(postmaster int) map[int]time.Duration {
	if postmaster <= 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := map[int]time.Duration{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if user, sys, ppid, ok := procTimes(pid); ok && (pid == postmaster || ppid == postmaster) {
			out[pid] = user + sys
		}
	}
	return out
}

// postmasterPID reads the first line of the data directory's postmaster.pid.
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(line)))
	return pid
}

// Add accumulates u weighted by its duration; mean undoes the weighting.
func (u *CPUUse) Add(o CPUUse) {
	u.Machine += o.Machine * o.secs
	u.Steal += o.Steal * o.secs
	u.Bench += o.Bench * o.secs
	u.Server += o.Server * o.secs
	u.Pg += o.Pg * o.secs
	u.secs += o.secs
}

func (u CPUUse) Mean() CPUUse {
	if u.secs <= 0 {
		return CPUUse{}
	}
	return CPUUse{secs: u.secs, Machine: u.Machine / u.secs, Steal: u.Steal / u.secs, Bench: u.Bench / u.secs, Server: u.Server / u.secs, Pg: u.Pg / u.secs}
}

// Other is what the machine spent outside this run's processes: other
// programs, kernel threads, interrupts.
func (u CPUUse) Other() float64 { return max(0, u.Machine-u.Pg-u.Server-u.Bench) }
