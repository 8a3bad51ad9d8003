package filter

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/walcast/walcast/replication"
)

// The index must agree with evaluating every subscription's predicate.
func TestIndexAgreesWithPredicates(t *testing.T) {
	rel := testRelation()
	rng := rand.New(rand.NewPCG(1, 2))
	ints := []string{"1", "2", "3", "007", "-1", "+2"}
	nums := []string{"1.5", "1.50", "2", "-0", "0", "NaN"}
	texts := []string{"a", "b", "ab", "B"}
	atom := func() string {
		switch rng.IntN(9) {
		case 0:
			return "i4=eq." + ints[rng.IntN(len(ints))]
		case 1:
			return fmt.Sprintf("i4=in.(%s,%s)", ints[rng.IntN(len(ints))], ints[rng.IntN(len(ints))])
		case 2:
			return "num=eq." + nums[rng.IntN(len(nums))]
		case 3:
			return "txt=eq." + texts[rng.IntN(len(texts))]
		case 4:
			return "txt=like." + texts[rng.IntN(len(texts))] + "%"
		case 5:
			return "i4=not.isdistinct." + ints[rng.IntN(len(ints))]
		case 6:
			return "i4=gt." + ints[rng.IntN(len(ints))]
		case 7:
			return "num=not.eq." + nums[rng.IntN(len(nums))]
		}
		return "txt=is.null"
	}
	type subPred struct {
		sub  Subscription
		pred *Predicate
	}
	ix := NewIndex()
	var subs []subPred
	masks := []EventMask{EventAll, EventInsert, EventUpdate | EventDelete}
	for id := uint64(1); id <= 2000; id++ {
		var parts []string
		for range rng.IntN(3) + 1 {
			parts = append(parts, atom())
		}
		if rng.IntN(20) == 0 {
			parts = nil
		}
		sub := Subscription{ID: id, Events: masks[rng.IntN(len(masks))], Table: "t", Filter: strings.Join(parts, ",")}
		mustAdd(t, ix, sub, rel)
		p, err := Compile(rel, mustParse(t, sub.Filter))
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, subPred{sub, p})
	}
	// Remove some, so removal paths are covered too.
	for i := 0; i < len(subs); i += 7 {
		ix.Remove(subs[i].sub.ID)
	}
	pick := func(vals []string) string {
		if rng.IntN(6) == 0 {
			return null
		}
		return vals[rng.IntN(len(vals))]
	}
	kinds := []replication.Kind{replication.Insert, replication.Update, replication.Delete}
	for range 500 {
		vals := map[string]string{"i4": pick([]string{"1", "2", "3", "7", "-1"}), "num": pick([]string{"1.5", "2.000", "0", "NaN"}), "txt": pick(texts)}
		kind := kinds[rng.IntN(len(kinds))]
		var ch *replication.Change
		if kind == replication.Delete {
			ch = change(rel, kind, nil, vals)
		} else {
			ch = change(rel, kind, vals, nil)
		}
		r := ch.New
		if kind == replication.Delete {
			r = ch.Old
		}
		var want []uint64
		for i, s := range subs {
			if i%7 != 0 && s.sub.Events.Has(kind) && s.pred.Match(r) {
				want = append(want, s.sub.ID)
			}
		}
		if diff := cmp.Diff(want, matchIDs(ix, ch)); diff != "" {
			t.Fatalf("%s %v (-predicates +index):\n%s", kind, vals, diff)
		}
	}
}

func TestIndexMatchAllocs(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	for id := uint64(1); id <= 1000; id++ {
		mustAdd(t, ix, Subscription{ID: id, Events: EventAll, Table: "t", Filter: fmt.Sprintf("num=eq.%d.5", id)}, rel)
	}
	mustAdd(t, ix, Subscription{ID: 5000, Events: EventAll, Table: "t", Filter: "txt=eq.hello"}, rel)
	mustAdd(t, ix, Subscription{ID: 5001, Events: EventAll, Table: "t", Filter: "u=in.(a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11)"}, rel)
	mustAdd(t, ix, Subscription{ID: 5002, Events: EventAll, Table: "t", Filter: "tstz=eq.2024-05-06 01:38:09.5+00"}, rel)
	mustAdd(t, ix, Subscription{ID: 5003, Events: EventAll, Table: "t", Filter: "txt=like.h%"}, rel)
	ch := change(rel, replication.Update, map[string]string{
		"num": "17.50", "txt": "hello", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "tstz": "2024-05-06 01:38:09.5+00",
	}, nil)
	dst := make([]uint64, 0, 16)
	if got := ix.Match(ch, dst); len(got) != 5 {
		t.Fatalf("matched %v, want 5 subscriptions", got)
	}
	if n := testing.AllocsPerRun(1000, func() { ix.Match(ch, dst[:0]) }); n != 0 {
		t.Fatalf("Index.Match allocates %v times per call, want 0", n)
	}
}

// Matches run under the read lock while subscriptions come and go; run
// with -race.
func TestIndexConcurrent(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	ix.Bind(rel)
	ch := change(rel, replication.Insert, map[string]string{"i4": "7"}, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]uint64, 0, 64)
			for {
				select {
				case <-stop:
					return
				default:
					dst = ix.Match(ch, dst[:0])
				}
			}
		}()
	}
	for id := uint64(1); id <= 500; id++ {
		mustAdd(t, ix, Subscription{ID: id, Events: EventAll, Table: "t", Filter: fmt.Sprintf("i4=eq.%d", id%10)}, nil)
		if id%3 == 0 {
			ix.Remove(id - 1)
		}
		if id%100 == 0 {
			ix.Bind(testRelation())
		}
	}
	close(stop)
	wg.Wait()
}
