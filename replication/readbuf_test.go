package replication

import (
	"bytes"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestReadBufferBuffered checks what the loop relies on to hand a batch
// over: buffered is true while a message that arrived is unparsed, in
// the frontend's buffer or under it, and false once all are parsed.
func TestReadBufferBuffered(t *testing.T) {
	msg := func(n int) []byte {
		b, err := (&pgproto3.CopyData{Data: bytes.Repeat([]byte{'w'}, n)}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		sizes []int
	}{
		{"one small", []int{100}},
		{"several small", []int{100, 200, 300}},
		{"larger than the frontend's 8 KB", []int{20_000, 50, 30_000}},
		{"larger than the read buffer", []int{readBufferBytes + 1000, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stream []byte
			for _, n := range tt.sizes {
				stream = append(stream, msg(n)...)
			}
			var rb readBuffer
			if rb.buffered() {
				t.Fatal("buffered before the connection exists")
			}
			cfg := &pgconn.Config{}
			rb.install(cfg)
			fe := cfg.BuildFrontend(bytes.NewReader(stream), io.Discard)
			for i, n := range tt.sizes {
				m, err := fe.Receive()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				cd, ok := m.(*pgproto3.CopyData)
				if !ok || len(cd.Data) != n {
					t.Fatalf("message %d: got %T, want CopyData of %d bytes", i, m, n)
				}
				if want := i < len(tt.sizes)-1; rb.buffered() != want {
					t.Fatalf("after message %d of %d: buffered = %v, want %v", i+1, len(tt.sizes), !want, want)
				}
			}
		})
	}
}
