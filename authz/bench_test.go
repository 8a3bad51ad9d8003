package authz

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

const benchGroups, benchRows, benchWorkers = 100, 10000, 4

// benchSetup: 100 users (claims groups) subscribed to one table of 10,000
// rows whose policy is user_id = auth.uid().
func benchSetup(b *testing.B) (*Authorizer, []Identity, Table) {
	a, _ := newDB(b,
		`CREATE TABLE items (id bigint PRIMARY KEY, user_id uuid NOT NULL, body text)`,
		`ALTER TABLE items ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY own ON items FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()))`,
		`GRANT SELECT ON items TO authenticated`,
		fmt.Sprintf(`INSERT INTO items SELECT i, ('00000000-0000-4000-8000-' || lpad((i %% %d)::text, 12, '0'))::uuid, 'x'
		             FROM generate_series(1, %d) i`, benchGroups, benchRows),
		`ANALYZE items`,
	)
	ids := make([]Identity, benchGroups)
	for i := range ids {
		ids[i] = identity(b, "authenticated", map[string]any{
			"sub": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "aud": "authenticated",
			"exp": 1900000000, "email": fmt.Sprintf("user%d@example.com", i),
		})
	}
	table := Table{"public", "items"}
	if _, err := a.TableAccess(context.Background(), "authenticated", []Table{table}); err != nil {
		b.Fatal(err)
	}
	return a, ids, table
}

func benchKeys(n int) [][]string {
	keys := make([][]string, n)
	for i := range keys {
		keys[i] = []string{fmt.Sprint(1 + (i*7919)%benchRows)}
	}
	return keys
}

// report records checks/s ((change, group) answers), changes/s (each
// change checked for all 100 groups) and queries per change.
func report(b *testing.B, batch int, queriesPerBatch, roundTripsPerBatch float64, elapsed time.Duration, visible int) {
	// Each key belongs to exactly one group.
	if want := batch * b.N; visible != want {
		b.Fatalf("%d keys visible over %d iterations, want %d (one group each)", visible, b.N, want)
	}
	s := elapsed.Seconds()
	b.ReportMetric(float64(benchGroups*batch*b.N)/s, "checks/s")
	b.ReportMetric(float64(batch*b.N)/s, "changes/s")
	b.ReportMetric(queriesPerBatch/float64(batch), "queries/change")
	b.ReportMetric(roundTripsPerBatch/float64(batch), "roundtrips/change")
}

// BenchmarkVisibleKeys: each iteration checks one batch of changed keys
// for every group, one VisibleKeys call (one round trip) per group, four at
// a time (the pool's size).
func BenchmarkVisibleKeys(b *testing.B) {
	a, ids, table := benchSetup(b)
	ctx := context.Background()
	for _, batch := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("keys=%d", batch), func(b *testing.B) {
			keys := benchKeys(batch)
			visible := 0
			start := time.Now()
			for b.Loop() {
				var (
					wg   sync.WaitGroup
					mu   sync.Mutex
					next int
				)
				for range benchWorkers {
					wg.Go(func() {
						for {
							mu.Lock()
							g := next
							next++
							mu.Unlock()
							if g >= len(ids) {
								return
							}
							got, err := a.VisibleKeys(ctx, ids[g], table, keys)
							if err != nil {
								b.Error(err)
								return
							}
							mu.Lock()
							visible += count(got)
							mu.Unlock()
						}
					})
				}
				wg.Wait()
			}
			report(b, batch, benchGroups, benchGroups, time.Since(start), visible)
		})
	}
}

// BenchmarkVisibleKeysGroups: the same checks with one VisibleKeysGroups
// call per batch: 25 groups per transaction and round trip, four round
// trips at a time.
func BenchmarkVisibleKeysGroups(b *testing.B) {
	a, ids, table := benchSetup(b)
	ctx := context.Background()
	for _, batch := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("keys=%d", batch), func(b *testing.B) {
			keys := benchKeys(batch)
			visible := 0
			start := time.Now()
			for b.Loop() {
				got, errs := a.VisibleKeysGroups(ctx, ids, table, keys, nil)
				for g := range got {
					if errs[g] != nil {
						b.Fatal(errs[g])
					}
					visible += count(got[g])
				}
			}
			perTrip := a.cfg.GroupsPerRoundTrip
			report(b, batch, benchGroups, float64((benchGroups+perTrip-1)/perTrip), time.Since(start), visible)
		})
	}
}

func count(v []bool) int {
	n := 0
	for _, x := range v {
		if x {
			n++
		}
	}
	return n
}
