package replication

import "time"

// AppendRecord appends row as a JSON object {"col":value,...} in column
// order. NULL becomes null; columns that were not sent (ValueUnchanged,
// ValueAbsent) are left out rather than shown as null.
func AppendRecord(dst []byte, rel *Relation, row []Value, opt EncodeOptions) []byte {
	return appendRecord(dst, rel, row, recordAll, 0, opt)
}

// recordMode selects the columns appendRecord writes.
type recordMode uint8

const (
	recordAll  recordMode = iota // every sent value, NULLs included
	recordSent                   // values only: a key-only old tuple marks the non-key columns NULL
	recordKey                    // the Column.Key columns
)

// appendRecord writes the columns of row that mode selects. With maxValue >
// 0, a value whose JSON is longer is left out; its size is known only once
// it is written (escapes grow it, json whitespace may shrink it), so it is
// written and taken back.
func appendRecord(dst []byte, rel *Relation, row []Value, mode recordMode, maxValue int, opt EncodeOptions) []byte {
	var cols []Column
	if rel != nil {
		cols = rel.Columns
	}
	dst = append(dst, '{')
	n := 0
	for i := range min(len(row), len(cols)) {
		v, col := row[i], &cols[i]
		switch {
		case v.State != ValueText && v.State != ValueNull,
			v.State == ValueNull && mode == recordSent,
			!col.Key && mode == recordKey:
			continue
		}
		mark := len(dst)
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendStringText(dst, col.Name)
		dst = append(dst, ':')
		start := len(dst)
		if v.State == ValueNull {
			dst = append(dst, "null"...)
		} else {
			dst = AppendValue(dst, col.Codec, v.Data, opt)
		}
		if maxValue > 0 && len(dst)-start > maxValue {
			dst = dst[:mark]
			continue
		}
		n++
	}
	return append(dst, '}')
}

// AppendChange appends ch as one JSON object in the shape of a Supabase
// Realtime postgres_changes "data" payload, plus the change's cursor:
//
//	{"schema":"public","table":"todos","type":"UPDATE",
//	 "commit_timestamp":"2025-11-19T00:22:40.877Z",
//	 "columns":[{"name":"id","type":"int8","primary_key":true},...],
//	 "record":{...},"old_record":{...},"unchanged_toast":["body"],
//	 "errors":null,"cursor":"0000000001A2B3C8-00000001"}
//
// record is present for INSERT and UPDATE, old_record for UPDATE and
// DELETE, unchanged_toast only when some new-row column is an unchanged
// TOASTed value that was not sent (it is then absent from record). For an
// UPDATE without an old tuple (replica identity DEFAULT, key unchanged),
// old_record holds the key columns of the new row, as Supabase sends it.
// A TRUNCATE has neither.
func AppendChange(dst []byte, ch *Change, opt EncodeOptions) []byte {
	return appendChange(dst, ch, 0, opt)
}

// appendChange writes ch; with maxValue > 0 it leaves out record values
// whose JSON is longer and reports the change as too large.
func appendChange(dst []byte, ch *Change, maxValue int, opt EncodeOptions) []byte {
	rel := ch.Relation
	var schema, table string
	var cols []Column
	if rel != nil {
		schema, table, cols = rel.Schema, rel.Table, rel.Columns
	}
	dst = append(dst, `{"schema":`...)
	dst = appendStringText(dst, schema)
	dst = append(dst, `,"table":`...)
	dst = appendStringText(dst, table)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, ch.Kind.String()...)
	dst = append(dst, `","commit_timestamp":`...)
	dst = appendCommitTime(dst, ch.CommitTime)

	dst = append(dst, `,"columns":[`...)
	for i := range cols {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendStringText(dst, cols[i].Name)
		dst = append(dst, `,"type":`...)
		dst = appendStringText(dst, cols[i].TypeName)
		if cols[i].Key {
			dst = append(dst, `,"primary_key":true`...)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')

	if ch.Kind == Insert || ch.Kind == Update {
		dst = append(dst, `,"record":`...)
		dst = appendRecord(dst, rel, ch.New, recordAll, maxValue, opt)
	}
	if ch.Kind == Update || ch.Kind == Delete {
		dst = append(dst, `,"old_record":`...)
		switch {
		case ch.Old != nil && ch.OldKeyOnly:
			dst = appendRecord(dst, rel, ch.Old, recordSent, maxValue, opt)
		case ch.Old != nil:
			dst = appendRecord(dst, rel, ch.Old, recordAll, maxValue, opt)
		case ch.Kind == Update:
			dst = appendRecord(dst, rel, ch.New, recordKey, maxValue, opt)
		default:
			dst = append(dst, "{}"...)
		}
	}
	if ch.Kind == Insert || ch.Kind == Update {
		dst = appendUnchangedToast(dst, cols, ch.New)
	}

	if maxValue > 0 {
		dst = append(dst, `,"errors":["`+ErrPayloadTooLarge+`"],"cursor":"`...)
	} else {
		dst = append(dst, `,"errors":null,"cursor":"`...)
	}
	dst = ch.Cursor.AppendText(dst)
	return append(dst, `"}`...)
}

// appendUnchangedToast lists the new-row columns that were not sent, so a
// client can tell "unchanged" from "removed"; it writes nothing when every
// column was sent.
func appendUnchangedToast(dst []byte, cols []Column, row []Value) []byte {
	n := 0
	for i := range min(len(row), len(cols)) {
		if row[i].State != ValueUnchanged {
			continue
		}
		if n == 0 {
			dst = append(dst, `,"unchanged_toast":[`...)
		} else {
			dst = append(dst, ',')
		}
		n++
		dst = appendStringText(dst, cols[i].Name)
	}
	if n > 0 {
		dst = append(dst, ']')
	}
	return dst
}

// appendCommitTime writes t in UTC with millisecond precision
// ("2025-11-19T00:22:40.877Z"), the form Supabase sends; the zero time,
// meaning unknown, is null.
func appendCommitTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, `"2006-01-02T15:04:05.000Z07:00"`)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	dst = append(dst, '"')
	dst = append2Digits(dst, year/100)
	dst = append2Digits(dst, year%100)
	dst = append(dst, '-')
	dst = append2Digits(dst, int(month))
	dst = append(dst, '-')
	dst = append2Digits(dst, day)
	dst = append(dst, 'T')
	dst = append2Digits(dst, hour)
	dst = append(dst, ':')
	dst = append2Digits(dst, minute)
	dst = append(dst, ':')
	dst = append2Digits(dst, sec)
	dst = append(dst, '.', byte('0'+ms/100))
	dst = append2Digits(dst, ms%100)
	return append(dst, 'Z', '"')
}

const digitPairs = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" +
	"60616263646566676869" + "70717273747576777879" + "80818283848586878889" + "90919293949596979899"

// append2Digits appends v, which is in [0, 99], as two digits.
func append2Digits(dst []byte, v int) []byte {
	return append(dst, digitPairs[2*v], digitPairs[2*v+1])
}
