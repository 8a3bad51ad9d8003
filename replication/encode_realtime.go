package replication

// Supabase Realtime does not drop a change that is too large to send: it
// sends it with the large values left out and an error saying so, so that a
// client still learns which row changed.
const (
	// TooLargeValueBytes is the largest JSON value, in bytes, that
	// AppendChangeTooLarge keeps in record and old_record.
	TooLargeValueBytes = 64
	// ErrPayloadTooLarge is the text of the "errors" entry of such a change.
	ErrPayloadTooLarge = "Error 413: Payload Too Large"
)

// AppendChangeTooLarge appends ch in the shape AppendChange gives it, with
// Supabase Realtime's treatment of a change over its size limit: record and
// old_record keep only the fields whose JSON value is at most
// TooLargeValueBytes long, and errors is ["Error 413: Payload Too Large"].
// columns, unchanged_toast and cursor are as AppendChange writes them, so a
// client can still see which columns were left out.
func AppendChangeTooLarge(dst []byte, ch *Change, opt EncodeOptions) []byte {
	return appendChange(dst, ch, TooLargeValueBytes, opt)
}
