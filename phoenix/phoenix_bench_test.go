package phoenix

import (
	"encoding/json"
	"testing"
)

func BenchmarkDecodeTextV2(b *testing.B) {
	frames := []struct{ name, frame string }{
		{"heartbeat", `[null,"12","phoenix","heartbeat",{}]`},
		{"broadcast", `["6","11","realtime:room1","broadcast",{"type":"broadcast","event":"cursor","payload":{"x":912,"y":33,"user":"4b1f0a9e-7c1d-4a7e-9d0b-2f3e6c8a1b55","color":"#ff8800"}}]`},
	}
	for _, f := range frames {
		data := []byte(f.frame)
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeText(V2, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// postgresChangesPayload is the size of a typical postgres_changes push:
// one UPDATE of a ten-column row with its old record.
var postgresChangesPayload = json.RawMessage(`{"ids":[38529813,106243155],"data":{"schema":"public","table":"todos","commit_timestamp":"2026-08-21T10:11:12.345Z","eventType":"UPDATE","new":{"id":42,"user_id":"4b1f0a9e-7c1d-4a7e-9d0b-2f3e6c8a1b55","task":"Write the protocol codecs and their fuzz tests","is_complete":true,"priority":3,"tags":["backend","realtime"],"inserted_at":"2026-08-20T09:00:00.000000+00:00","updated_at":"2026-08-21T10:11:12.345000+00:00","due":"2026-08-30","estimate":"02:30:00"},"old":{"id":42},"errors":null,"columns":[{"name":"id","type":"int8"},{"name":"user_id","type":"uuid"},{"name":"task","type":"text"},{"name":"is_complete","type":"bool"},{"name":"priority","type":"int4"},{"name":"tags","type":"_text"},{"name":"inserted_at","type":"timestamptz"},{"name":"updated_at","type":"timestamptz"},{"name":"due","type":"date"},{"name":"estimate","type":"interval"}]}}`)

func BenchmarkAppendTextPostgresChanges(b *testing.B) {
	m := Message{Topic: "realtime:public:todos", Event: "postgres_changes", Payload: postgresChangesPayload}
	for _, v := range []Version{V1, V2} {
		b.Run(v.String(), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 2048)
			b.SetBytes(int64(len(AppendText(nil, v, m))))
			for b.Loop() {
				buf = AppendText(buf[:0], v, m)
			}
		})
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	data := pushFrame("6", "8", "realtime:room1", "cursor", "", EncodingJSON, []byte(`{"x":912,"y":33,"user":"4b1f0a9e-7c1d-4a7e-9d0b-2f3e6c8a1b55"}`))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBroadcastBinary(b *testing.B) {
	payload := []byte(`{"x":912,"y":33,"user":"4b1f0a9e-7c1d-4a7e-9d0b-2f3e6c8a1b55"}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBroadcastBinary(buf[:0], "realtime:room1", "cursor", nil, true, payload)
	}
}
