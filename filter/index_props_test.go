package filter

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/walcast/walcast/replication"
)

// Constants and row values of the random filters and rows below: equal
// values spelled differently, NULLs, NaN and infinities, bounds that equal
// row values.
var (
	propInts   = []string{"1", "2", "3", "007", "-1", "+2"}
	propNums   = []string{"1.5", "1.50", "2", "-0", "0", "NaN", "-Infinity", "Infinity"}
	propFloats = []string{"-Infinity", "-1.5", "-0", "0", "1.5", "NaN", "Infinity"}
	propTexts  = []string{"a", "b", "ab", "B", ""}
	propTimes  = []string{"2024-05-06 01:00:00+00", "2024-05-06T03:00:00+02:00", "2024-05-06 02:00:00.5+00", "-infinity", "infinity"}
)

// randAtom returns one or two conditions of a random filter: eq and in
// (hashed), ranges with one or two ends over ints, numerics, floats, text
// and timestamps (ranged), and others (scanned).
func randAtom(rng *rand.Rand) string {
	one := func(vals []string) string { return vals[rng.IntN(len(vals))] }
	ords := []string{"lt", "lte", "gt", "gte", "not.lt", "not.gte"}
	ord := func() string { return ords[rng.IntN(len(ords))] }
	switch rng.IntN(17) {
	case 0:
		return "i4=eq." + one(propInts)
	case 1:
		return fmt.Sprintf("i4=in.(%s,%s)", one(propInts), one(propInts))
	case 2:
		return "num=eq." + one(propNums)
	case 3:
		return "txt=eq." + one(propTexts)
	case 4:
		return "txt=like." + one(propTexts) + "%"
	case 5:
		return "i4=not.isdistinct." + one(propInts)
	case 6:
		return "i4=gt." + one(propInts)
	case 7:
		return "num=not.eq." + one(propNums)
	case 8:
		return fmt.Sprintf("i4=%s.%s,i4=%s.%s", ord(), one(propInts), ord(), one(propInts))
	case 9:
		return fmt.Sprintf("num=%s.%s,num=%s.%s", ord(), one(propNums), ord(), one(propNums))
	case 10:
		return fmt.Sprintf("f8=%s.%s", ord(), one(propFloats))
	case 11:
		return fmt.Sprintf("f8=%s.%s,f8=%s.%s", ord(), one(propFloats), ord(), one(propFloats))
	case 12:
		return fmt.Sprintf(`txt=%s."%s",txt=%s."%s"`, ord(), one(propTexts), ord(), one(propTexts))
	case 13:
		return fmt.Sprintf("tstz=%s.%s,tstz=%s.%s", ord(), one(propTimes), ord(), one(propTimes))
	case 14:
		return "i2=in.(1,2,3,4,5,6,7)"
	case 15:
		return "i4=" + ord() + "." + one(propInts)
	}
	return "txt=is.null"
}

// randFilter joins one to three atoms, or is empty one time in twenty.
func randFilter(rng *rand.Rand) string {
	if rng.IntN(20) == 0 {
		return ""
	}
	var parts []string
	for range rng.IntN(3) + 1 {
		parts = append(parts, randAtom(rng))
	}
	return strings.Join(parts, ",")
}

// randChange returns an INSERT, UPDATE or DELETE of a random row.
func randChange(rng *rand.Rand, rel *replication.Relation) *replication.Change {
	pick := func(vals []string) string {
		if rng.IntN(6) == 0 {
			return null
		}
		return vals[rng.IntN(len(vals))]
	}
	vals := map[string]string{
		"i2": pick([]string{"1", "7", "8"}), "i4": pick([]string{"1", "2", "3", "7", "-1"}), "num": pick([]string{"1.5", "2.000", "0", "NaN", "Infinity"}),
		"f8": pick(propFloats), "txt": pick(propTexts), "tstz": pick(propTimes),
	}
	switch rng.IntN(3) {
	case 0:
		return change(rel, replication.Insert, vals, nil)
	case 1:
		return change(rel, replication.Update, vals, nil)
	}
	return change(rel, replication.Delete, nil, vals)
}

// predicateMatches lists the subscriptions whose predicate accepts ch,
// evaluated one by one.
func predicateMatches(subs map[uint64]subPred, ch *replication.Change) []uint64 {
	r := ch.New
	if ch.Kind == replication.Delete {
		r = ch.Old
	}
	var want []uint64
	for id, s := range subs {
		if s.sub.Events.Has(ch.Kind) && s.pred.Match(r) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	return want
}

type subPred struct {
	sub  Subscription
	pred *Predicate
}

var propMasks = []EventMask{EventAll, EventInsert, EventUpdate | EventDelete}

func randSub(t *testing.T, rng *rand.Rand, rel *replication.Relation, id uint64) subPred {
	sub := Subscription{ID: id, Events: propMasks[rng.IntN(len(propMasks))], Table: "t", Filter: randFilter(rng)}
	p, err := Compile(rel, mustParse(t, sub.Filter))
	if err != nil {
		t.Fatal(err)
	}
	return subPred{sub, p}
}

// The index must agree with evaluating every subscription's predicate.
func TestIndexAgreesWithPredicates(t *testing.T) {
	rel := testRelation()
	rng := rand.New(rand.NewPCG(1, 2))
	ix := NewIndex()
	subs := make(map[uint64]subPred)
	for id := uint64(1); id <= 2000; id++ {
		s := randSub(t, rng, rel, id)
		mustAdd(t, ix, s.sub, rel)
		subs[id] = s
	}
	// Remove some, so removal paths are covered too.
	for id := uint64(1); id <= 2000; id += 7 {
		ix.Remove(id)
		delete(subs, id)
	}
	for range 1000 {
		ch := randChange(rng, rel)
		if diff := cmp.Diff(predicateMatches(subs, ch), matchIDs(ix, ch)); diff != "" {
			t.Fatalf("%s %v (-predicates +index):\n%s", ch.Kind, ch.New, diff)
		}
	}
}

// The index keeps agreeing while subscriptions come and go, their groups
// placed and unplaced in every kind of anchor, and while the relation is
// bound again.
func TestIndexAgreesUnderChurn(t *testing.T) {
	rel := testRelation()
	rng := rand.New(rand.NewPCG(5, 6))
	ix := NewIndex()
	subs := make(map[uint64]subPred)
	next := uint64(1)
	for round := range 40 {
		for range rng.IntN(150) {
			s := randSub(t, rng, rel, next)
			mustAdd(t, ix, s.sub, rel)
			subs[next] = s
			next++
		}
		for id := range subs {
			if rng.IntN(3) == 0 {
				ix.Remove(id)
				delete(subs, id)
			}
		}
		if round%10 == 9 {
			ix.Bind(testRelation()) // same shape: groups kept
		}
		for range 50 {
			ch := randChange(rng, rel)
			if diff := cmp.Diff(predicateMatches(subs, ch), matchIDs(ix, ch)); diff != "" {
				t.Fatalf("round %d, %s %v (-predicates +index):\n%s", round, ch.Kind, ch.New, diff)
			}
		}
	}
	for id := range subs {
		ix.Remove(id)
	}
	ri := ix.rels[rel.ID]
	if len(ri.groups) != 0 || len(ri.hashed) != 0 || len(ri.ranged) != 0 || len(ri.scan) != 0 {
		t.Fatalf("leftovers: %d groups, %d hashed, %d ranged columns, %d scanned", len(ri.groups), len(ri.hashed), len(ri.ranged), len(ri.scan))
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
	mustAdd(t, ix, Subscription{ID: 5004, Events: EventAll, Table: "t", Filter: "num=gt.17,num=lt.18"}, rel)
	mustAdd(t, ix, Subscription{ID: 5005, Events: EventAll, Table: "t", Filter: "tstz=gte.2024-05-06,tstz=lt.2024-05-07,txt=like.h%"}, rel)
	ch := change(rel, replication.Update, map[string]string{
		"num": "17.50", "txt": "hello", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "tstz": "2024-05-06 01:38:09.5+00",
	}, nil)
	dst := make([]uint64, 0, 16)
	if got := ix.Match(ch, dst); len(got) != 7 {
		t.Fatalf("matched %v, want 7 subscriptions", got)
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
		f := fmt.Sprintf("i4=eq.%d", id%10)
		if id%2 == 0 {
			f = fmt.Sprintf("i4=gt.%d,i4=lt.%d", id%10, id%10+5) // anchored by range
		}
		mustAdd(t, ix, Subscription{ID: id, Events: EventAll, Table: "t", Filter: f}, nil)
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
