package filters

import "testing"

func TestBurstRowsFor(t *testing.T) {
	for _, c := range []struct{ subs, hot, rows int }{{1, 1, 100}, {1000, 1, 100_000}, {1000, 1000, 100_000}, {100_000, 100, 20_000}, {7, 3, 100}} {
		total := 0
		for v := range c.subs {
			n := burstRowsFor(v, c.hot, c.rows)
			if v >= c.hot && n != 0 {
				t.Errorf("subs %d, hot %d: value %d, which no row carries, expects %d rows", c.subs, c.hot, v, n)
			}
			total += n
		}
		if total != c.rows {
			t.Errorf("subs %d, hot %d, rows %d: shares add up to %d", c.subs, c.hot, c.rows, total)
		}
	}
}
