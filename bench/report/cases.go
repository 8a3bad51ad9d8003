package report

import (
	"fmt"
	"math"

	"github.com/walcast/walcast/bench/stats"
)

// Case is the runs of one of the cases a workload compares within a run:
// how many, how many delivered every row, and how the first that did not
// fell short.
type Case struct {
	Name       string
	Runs, Good int
	Failure    string
}

// Add counts a run, good when it delivered every row; failure says how it
// fell short, asked for the first run that was not good only. Add returns
// good: only then are the run's figures a result.
func (c *Case) Add(good bool, failure func() string) bool {
	c.Runs++
	if good {
		c.Good++
	} else if c.Failure == "" {
		c.Failure = failure()
	}
	return good
}

// Incomplete says why cases cannot be compared, or "" when they can: one
// was not measured, or had a run that did not deliver every row.
func Incomplete(cs ...Case) string {
	for _, c := range cs {
		if c.Runs == 0 {
			return c.Name + " not measured"
		}
		if c.Good < c.Runs {
			return fmt.Sprintf("%s: %d of %d runs did not deliver every row, the first %s", c.Name, c.Runs-c.Good, c.Runs, c.Failure)
		}
	}
	return ""
}

// Round2 rounds a target's ratio to the two decimals it is shown with.
func Round2(f float64) float64 { return math.Round(f*100) / 100 }

// DeliveryFailure is Case.Add's failure of a run that did not deliver
// every row: delivered of rows arrived, misrouted on the wrong channel,
// off channels (of who: "subscriptions", "users") got another count than
// theirs, and lost is a lost connection's error, if any.
func DeliveryFailure(run int, delivered int64, rows int, misrouted int64, off int, who string, lost error) string {
	s := fmt.Sprintf("run %d: %s of %s rows delivered, %d misrouted, %d %s off their count", run,
		stats.Group(float64(delivered)), stats.Group(float64(rows)), misrouted, off, who)
	if lost != nil {
		s += fmt.Sprintf(" (%v)", lost)
	}
	return s
}
