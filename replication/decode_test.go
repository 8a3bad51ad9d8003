package replication

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// msg builds pgoutput messages for tests.
type msg struct{ b []byte }

func (m *msg) byte(v byte) *msg   { m.b = append(m.b, v); return m }
func (m *msg) u16(v uint16) *msg  { m.b = binary.BigEndian.AppendUint16(m.b, v); return m }
func (m *msg) u32(v uint32) *msg  { m.b = binary.BigEndian.AppendUint32(m.b, v); return m }
func (m *msg) u64(v uint64) *msg  { m.b = binary.BigEndian.AppendUint64(m.b, v); return m }
func (m *msg) str(s string) *msg  { m.b = append(append(m.b, s...), 0); return m }
func (m *msg) text(s string) *msg { return m.byte('t').u32(uint32(len(s))).raw(s) }
func (m *msg) raw(s string) *msg  { m.b = append(m.b, s...); return m }
func (m *msg) tuple(vals ...string) *msg {
	m.u16(uint16(len(vals)))
	for _, v := range vals {
		switch v {
		case "<null>":
			m.byte('n')
		case "<toast>":
			m.byte('u')
		default:
			m.text(v)
		}
	}
	return m
}

func relationMsg() []byte {
	m := &msg{}
	m.byte('R').u32(16400).str("public").str("items").byte('d').u16(3)
	m.byte(1).str("id").u32(20).u32(0xFFFFFFFF)
	m.byte(0).str("name").u32(25).u32(0xFFFFFFFF)
	m.byte(0).str("big").u32(25).u32(0xFFFFFFFF)
	return m.b
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		check func(t *testing.T, d *decoded)
	}{
		{"begin", (&msg{}).byte('B').u64(0x1A2B).u64(86_400_000_000).u32(7).b, func(t *testing.T, d *decoded) {
			if d.kind != msgBegin || d.commitLSN != 0x1A2B || d.time.Format("2006-01-02") != "2000-01-02" {
				t.Errorf("got kind %d lsn %v time %v", d.kind, d.commitLSN, d.time)
			}
		}},
		{"commit", (&msg{}).byte('C').byte(0).u64(0x10).u64(0x20).u64(0).b, func(t *testing.T, d *decoded) {
			if d.kind != msgCommit || d.commitLSN != 0x10 || d.endLSN != 0x20 {
				t.Errorf("got kind %d commit %v end %v", d.kind, d.commitLSN, d.endLSN)
			}
		}},
		{"relation", relationMsg(), func(t *testing.T, d *decoded) {
			r := d.rel
			if d.kind != msgRelation || r.ID != 16400 || r.Schema != "public" || r.Table != "items" || len(r.Columns) != 3 ||
				!r.Columns[0].Identity || r.Columns[1].Identity || r.Columns[1].Name != "name" || r.Columns[0].TypeOID != 20 {
				t.Errorf("got %+v", r)
			}
		}},
		{"insert", (&msg{}).byte('I').u32(16400).byte('N').tuple("1", "<null>", "x").b, func(t *testing.T, d *decoded) {
			if d.change != Insert || d.hasOld || len(d.newRow) != 3 || string(d.newRow[0].Data) != "1" || !d.newRow[1].IsNull() {
				t.Errorf("got %+v", d.newRow)
			}
		}},
		{"update key-only old", (&msg{}).byte('U').u32(16400).byte('K').tuple("1", "<null>", "<null>").byte('N').tuple("2", "b", "<toast>").b, func(t *testing.T, d *decoded) {
			if d.change != Update || !d.hasOld || !d.oldKeyOnly || d.newRow[2].State != ValueUnchanged || string(d.oldRow[0].Data) != "1" {
				t.Errorf("got old %+v new %+v", d.oldRow, d.newRow)
			}
		}},
		{"update full old", (&msg{}).byte('U').u32(16400).byte('O').tuple("1", "a", "big").byte('N').tuple("1", "b", "<toast>").b, func(t *testing.T, d *decoded) {
			if !d.hasOld || d.oldKeyOnly || string(d.oldRow[2].Data) != "big" {
				t.Errorf("got old %+v", d.oldRow)
			}
		}},
		{"update no old", (&msg{}).byte('U').u32(16400).byte('N').tuple("1", "b", "c").b, func(t *testing.T, d *decoded) {
			if d.hasOld || string(d.newRow[1].Data) != "b" {
				t.Errorf("got %+v", d)
			}
		}},
		{"delete", (&msg{}).byte('D').u32(16400).byte('K').tuple("1", "<null>", "<null>").b, func(t *testing.T, d *decoded) {
			if d.change != Delete || !d.oldKeyOnly || len(d.newRow) != 0 {
				t.Errorf("got %+v", d)
			}
		}},
		{"truncate", (&msg{}).byte('T').u32(2).byte(0).u32(1).u32(2).b, func(t *testing.T, d *decoded) {
			if d.kind != msgTruncate || len(d.relIDs) != 2 || d.relIDs[1] != 2 {
				t.Errorf("got %+v", d.relIDs)
			}
		}},
		{"message", (&msg{}).byte('M').byte(1).u64(0x99).str("walcast").u32(3).raw("abc").b, func(t *testing.T, d *decoded) {
			if d.kind != msgLogical || !d.msg.Transactional || d.msg.Prefix != "walcast" || string(d.msg.Content) != "abc" {
				t.Errorf("got %+v", d.msg)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d decoded
			if err := decode(tc.data, &d); err != nil {
				t.Fatalf("decode: %v", err)
			}
			tc.check(t, &d)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":             nil,
		"short begin":       {'B', 0, 0},
		"unknown tag":       {'Z'},
		"bad tuple kind":    (&msg{}).byte('I').u32(1).byte('N').u16(1).byte('x').b,
		"length past end":   (&msg{}).byte('I').u32(1).byte('N').u16(1).byte('t').u32(100).raw("ab").b,
		"negative length":   (&msg{}).byte('I').u32(1).byte('N').u16(1).byte('t').u32(0xFFFFFFF0).b,
		"huge column count": (&msg{}).byte('R').u32(1).str("s").str("t").byte('d').u16(60000).b,
		"unterminated name": (&msg{}).byte('R').u32(1).raw("public").b,
		"bad insert tag":    (&msg{}).byte('I').u32(1).byte('Q').b,
		"truncate overflow": (&msg{}).byte('T').u32(1 << 30).byte(0).b,
	} {
		t.Run(name, func(t *testing.T) {
			var d decoded
			if err := decode(data, &d); err == nil {
				t.Errorf("decode(%q) = nil error, want one", data)
			}
		})
	}
}

// TestDecodeAliasesInput documents the buffer contract: decoded values point
// into the message, so a handler must copy what it keeps.
func TestDecodeAliasesInput(t *testing.T) {
	data := (&msg{}).byte('I').u32(1).byte('N').tuple("hello").b
	var d decoded
	if err := decode(data, &d); err != nil {
		t.Fatal(err)
	}
	kept := bytes.Clone(d.newRow[0].Data)
	copy(data[len(data)-5:], "XXXXX")
	if string(d.newRow[0].Data) != "XXXXX" || string(kept) != "hello" {
		t.Errorf("got %q (kept %q): values should alias the input buffer", d.newRow[0].Data, kept)
	}
}

func TestDecodeInsertAllocs(t *testing.T) {
	data := (&msg{}).byte('I').u32(1).byte('N').tuple("1", "name", "<null>", "2024-01-01 00:00:00+00", "{1,2}").b
	var d decoded
	_ = decode(data, &d)
	if n := testing.AllocsPerRun(1000, func() { _ = decode(data, &d) }); n != 0 {
		t.Errorf("decode insert: %v allocs, want 0", n)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(relationMsg())
	f.Add((&msg{}).byte('B').u64(1).u64(2).u32(3).b)
	f.Add((&msg{}).byte('U').u32(16400).byte('O').tuple("1", "a", "big").byte('N').tuple("1", "b", "<toast>").b)
	f.Add((&msg{}).byte('T').u32(2).byte(0).u32(1).u32(2).b)
	f.Add((&msg{}).byte('M').byte(1).u64(0x99).str("walcast").u32(3).raw("abc").b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var d decoded
		_ = decode(data, &d) // must not panic
	})
}

func BenchmarkDecodeInsert(b *testing.B) {
	data := (&msg{}).byte('I').u32(1).byte('N').tuple("123456", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "some name here",
		"42", "1234.56", "{a,b,c}", `{"k": 1}`, "t", "2024-05-06 01:38:09.5+00").b
	var d decoded
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := decode(data, &d); err != nil {
			b.Fatal(err)
		}
	}
}
