package replication

// maxArrayDims is Postgres's MAXDIM: deeper nesting is not an array_out
// literal, and bounding it keeps the output's depth bounded too.
const maxArrayDims = 6

// appendArray renders an array literal ({1,2,NULL}, {{1,2},{3,4}},
// [0:1]={1,2}, {"a b","c\"d"}) as nested JSON arrays, each element rendered
// by the element codec. A literal it cannot parse is rendered as a JSON
// string of its text, so a surprise in one value never breaks the payload.
func appendArray(dst []byte, c Codec, text []byte, opt EncodeOptions) []byte {
	start := len(dst)
	dst, ok := appendArrayLiteral(dst, c, text, opt)
	if !ok {
		return appendString(dst[:start], text)
	}
	return dst
}

func appendArrayLiteral(dst []byte, c Codec, s []byte, opt EncodeOptions) ([]byte, bool) {
	elem := Codec{Kind: c.Kind, BaseOID: c.BaseOID}
	delim := c.Delim
	if delim == 0 {
		delim = ','
	}
	// array_out prefixes "[lb:ub]...=" when a lower bound is not 1; JSON
	// arrays have no bounds, so the decoration is dropped.
	i := 0
	if len(s) > 0 && s[0] == '[' {
		if i = skipArrayBounds(s); i < 0 {
			return dst, false
		}
	}
	if i >= len(s) || s[i] != '{' {
		return dst, false
	}
	depth := 0
	for {
		// An item (or, right after '{', a '}') starts at s[i].
		if i >= len(s) {
			return dst, false
		}
		if s[i] == '{' {
			if depth == maxArrayDims {
				return dst, false
			}
			depth++
			dst = append(dst, '[')
			if i++; i < len(s) && s[i] == '}' {
				dst = append(dst, ']')
				depth--
				i++
			} else {
				continue
			}
		} else {
			var ok bool
			if dst, i, ok = appendArrayElement(dst, elem, s, i, delim, opt); !ok {
				return dst, false
			}
		}
		// An item ended at s[i]: a delimiter or closing braces follow.
		for {
			if depth == 0 {
				return dst, i == len(s)
			}
			if i >= len(s) {
				return dst, false
			}
			if s[i] == '}' {
				dst = append(dst, ']')
				depth--
				i++
				continue
			}
			if s[i] != delim {
				return dst, false
			}
			dst = append(dst, ',')
			i++
			break
		}
	}
}

// skipArrayBounds returns the index after a "[lb:ub][lb:ub]=" prefix, or -1.
func skipArrayBounds(s []byte) int {
	i := 0
	for i < len(s) && s[i] == '[' {
		for _, sep := range [...]byte{':', ']'} {
			i++
			if i < len(s) && (s[i] == '-' || s[i] == '+') {
				i++
			}
			j := skipDigits(s, i)
			if j == i || j >= len(s) || s[j] != sep {
				return -1
			}
			i = j
		}
		i++
	}
	if i == 0 || i >= len(s) || s[i] != '=' {
		return -1
	}
	return i + 1
}

// appendArrayElement renders the quoted or unquoted element at s[i] and
// returns the index after it.
func appendArrayElement(dst []byte, elem Codec, s []byte, i int, delim byte, opt EncodeOptions) ([]byte, int, bool) {
	var raw []byte
	escaped := false
	if s[i] == '"' {
		j := i + 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' {
				escaped = true
				j++
			}
		}
		if j >= len(s) {
			return dst, i, false
		}
		raw, i = s[i+1:j], j+1
	} else {
		j := i
		for ; j < len(s) && s[j] != delim && s[j] != '}'; j++ {
			switch s[j] {
			case '\\':
				escaped = true
				j++
			case '{', '"':
				return dst, i, false
			}
		}
		if j == i || j > len(s) {
			return dst, i, false
		}
		raw, i = s[i:j], j
		if !escaped && isNULL(raw) {
			return append(dst, "null"...), i, true
		}
	}
	if !escaped {
		return appendScalar(dst, elem, raw, opt), i, true
	}
	// Backslash escapes must be removed before the element codec sees the
	// text. The unescaped text is staged in dst itself, past the output, and
	// the rendering is then moved down over it: no scratch buffer to
	// allocate or pool.
	mark := len(dst)
	for k := 0; k < len(raw); k++ {
		if raw[k] == '\\' {
			k++
		}
		dst = append(dst, raw[k])
	}
	end := len(dst)
	dst = appendScalar(dst, elem, dst[mark:end], opt)
	n := copy(dst[mark:], dst[end:])
	return dst[:mark+n], i, true
}

// isNULL reports whether an unquoted element is NULL (any case, as array_in
// reads it); a quoted "NULL" is the text.
func isNULL(b []byte) bool {
	return len(b) == 4 && b[0]|0x20 == 'n' && b[1]|0x20 == 'u' && b[2]|0x20 == 'l' && b[3]|0x20 == 'l'
}
