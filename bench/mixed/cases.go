package mixed

import (
	"fmt"
	"strconv"
)

// tableCase is one way of subscribing: the filters' kind and how many
// tables the subscriptions and rows are spread over.
type tableCase struct {
	name   string
	mixed  bool // combined filters of several operators; otherwise sub=eq.<v>
	tables int  // subscription v and its rows are on table m_<v mod tables>
}

// cases are the measured ways, the reference (single eq filters on one
// table) first.
func cases(tables int) []tableCase {
	return []tableCase{
		{name: "eq filter, 1 table", tables: 1},
		{name: "mixed filters, 1 table", mixed: true, tables: 1},
		{name: fmt.Sprintf("eq filter, %d tables", tables), tables: tables},
		{name: fmt.Sprintf("mixed filters, %d tables", tables), mixed: true, tables: tables},
	}
}

func tableName(i int) string { return "m_" + strconv.Itoa(i) }

// tableOf is the table of subscription v, and of the rows for it.
func (c tableCase) tableOf(v int) string { return tableName(v % c.tables) }

// filterOf is subscription v's filter. Mixed filters take one of four
// shapes by v mod 4, each a combination of operators over several columns
// that holds for exactly the rows with sub = v (the load's region is 0–6,
// score 0–99, status open, held or done): the rows of
// each subscription, and so the deliveries, are the same as with eq
// filters, and only how walcast finds and checks the subscriptions
// differs. The shapes with in and eq on sub give the index a key on sub;
// the range shape (gt and lt on sub) gives it an interval on sub, narrower
// than its in list of seven regions.
func (c tableCase) filterOf(v, subs int) string {
	if !c.mixed {
		return fmt.Sprintf("sub=eq.%d", v)
	}
	switch v % 4 {
	case 0:
		return fmt.Sprintf("sub=in.(%d,%d),score=gte.0,status=neq.closed", v, v+subs)
	case 1:
		return fmt.Sprintf("sub=eq.%d,region=neq.-1,score=lt.100", v)
	case 2:
		return fmt.Sprintf("sub=gt.%d,sub=lt.%d,region=in.(0,1,2,3,4,5,6)", v-1, v+1)
	default:
		return fmt.Sprintf("region=gt.-1,sub=in.(%d),status=in.(open,held,done)", v)
	}
}
