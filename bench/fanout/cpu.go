package fanout

import (
	"fmt"
	"io"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// writeFanoutCPUSplit splits walcast's and the peer's server CPU per
// delivery into user space and kernel, medians over the runs.
//
// Both servers write every delivery with a send of its own, and on
// loopback the kernel runs the receiver's TCP receive and wake-up in the
// sender's context, so the kernel part is mostly fixed per delivery: what a
// server's own code can save is its user part. The peer's whole CPU per
// delivery over walcast's kernel part is therefore the most walcast's
// ratio could reach without putting several deliveries in one write.
func writeFanoutCPUSplit(w io.Writer, cmp []fanoutComparison, peer *harness.CentrifugoPeer) {
	if peer == nil {
		return
	}
	fmt.Fprintf(w, "Where the server CPU goes, in µs per delivery (= CPU-s per 1M deliveries; user: utime, kernel: stime; medians over the runs). "+
		"Both servers make one send per delivery, and on loopback the kernel charges the receiver's TCP receive and wake-up to the sender, "+
		"so the kernel part is the floor of a server that writes each delivery on its own; "+
		"the ceiling is %s's whole CPU per delivery over walcast's kernel part, the ratio walcast would reach with no user-space cost at all. "+
		"The split comes from tick sampling and is rougher than the totals.\n\n", peer.Name)
	fmt.Fprintf(w, "| subscribers | msg/s | walcast user | walcast kernel | %[1]s user | %[1]s kernel | user-space ratio (%[1]s ÷ walcast) | ceiling without batching |\n", peer.Name)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range cmp {
		if c.peer == nil || c.walcast == nil {
			continue
		}
		wu, wk := stats.Median(c.walcast.userPerM), stats.Median(c.walcast.sysPerM)
		pu, pk := stats.Median(c.peer.userPerM), stats.Median(c.peer.sysPerM)
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
			stats.Group(float64(c.subs)), c.rate, wu, wk, pu, pk, ratioText(pu, wu), ratioText(pu+pk, wk))
	}
	fmt.Fprintln(w)
}

// ratioText is a / b with two decimals, or — when b is not positive.
func ratioText(a, b float64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}
