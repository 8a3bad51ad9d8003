package changes

import (
	"sync"

	"github.com/walcast/walcast/replication"
)

// viewKey names what one viewer may see of a change: the relation, the
// columns it may read, and whether only the primary key is left (a DELETE
// under row security, as Supabase sends it).
type viewKey struct {
	rel     *replication.Relation
	cols    *colSet
	keyOnly bool
}

// view is a relation cut to the columns of a viewKey. A nil rel means
// every column: the change is encoded as it is.
type view struct {
	rel *replication.Relation
	idx []int // positions of the kept columns in the full relation
}

// viewCache keeps the views of the relations seen; the replication
// goroutine and replays share it.
type viewCache struct {
	mu sync.Mutex
	m  map[viewKey]*view
}

func (c *viewCache) get(k viewKey) *view {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.m[k]; v != nil {
		return v
	}
	if c.m == nil {
		c.m = make(map[viewKey]*view)
	}
	v := makeView(k)
	c.m[k] = v
	return v
}

// reset forgets every view, when relations are announced again (their
// old pointers would otherwise stay reachable).
func (c *viewCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

func makeView(k viewKey) *view {
	var idx []int
	for i := range k.rel.Columns {
		col := &k.rel.Columns[i]
		if k.cols.names[col.Name] && (!k.keyOnly || col.Key) {
			idx = append(idx, i)
		}
	}
	if len(idx) == len(k.rel.Columns) {
		return &view{}
	}
	r := *k.rel
	r.Columns = make([]replication.Column, len(idx))
	for j, i := range idx {
		r.Columns[j] = k.rel.Columns[i]
	}
	return &view{rel: &r, idx: idx}
}

// cut returns ch as the view shows it, its rows copied into the scratch
// slices nw and old (returned for reuse).
func (v *view) cut(ch *replication.Change, nw, old []replication.Value) (c replication.Change, _, _ []replication.Value) {
	c = *ch
	c.Relation = v.rel
	pick := func(dst, src []replication.Value) []replication.Value {
		dst = dst[:0]
		for _, i := range v.idx {
			dst = append(dst, src[i])
		}
		return dst
	}
	if len(ch.New) > 0 {
		nw = pick(nw, ch.New)
		c.New = nw
	}
	if len(ch.Old) > 0 {
		old = pick(old, ch.Old)
		c.Old = old
	}
	return c, nw, old
}

// viewScratch is the reusable state of encoding changes per view.
type viewScratch struct {
	buf      []byte
	nw, old  []replication.Value
	encoded  []viewData // this change's encodings, by view
	fullData []byte
}

type viewData struct {
	k    viewKey
	data []byte
}

// encodeView returns the data object of ch as k shows it, encoding it
// once per change and view: call s.next between changes.
func (d *Dispatcher) encodeView(s *viewScratch, ch *replication.Change, k viewKey) []byte {
	for i := range s.encoded {
		if s.encoded[i].k == k {
			return s.encoded[i].data
		}
	}
	v := d.views.get(k)
	var data []byte
	switch {
	case v.rel == nil && s.fullData != nil:
		data = s.fullData
	case v.rel == nil:
		data, s.buf = d.encodeWith(s.buf, ch)
		s.fullData = data
	default:
		var c replication.Change
		c, s.nw, s.old = v.cut(ch, s.nw, s.old)
		data, s.buf = d.encodeWith(s.buf, &c)
	}
	s.encoded = append(s.encoded, viewData{k, data})
	return data
}

// next forgets the encodings of the last change.
func (s *viewScratch) next() {
	clear(s.encoded)
	s.encoded = s.encoded[:0]
	s.fullData = nil
	clear(s.nw)
	clear(s.old)
}
