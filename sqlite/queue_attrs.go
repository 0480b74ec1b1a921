package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"tipoff/batch"
)

// Attributes are stored as a JSON object of strings. Every message is
// encoded once and decoded once per delivery, so both have a fast path for
// what the pipeline's attributes are (plain IDs and numbers, nothing to
// escape) that writes and reads the object directly; anything else goes
// through encoding/json. Both paths store and read the same JSON.

// encodeAttrs returns the stored form of attributes: NULL when there are
// none, else a JSON object. Keys must be non-empty and keys and values
// valid UTF-8 (JSON would silently alter anything else); the error wraps
// [batch.ErrInvalid].
func encodeAttrs(attrs map[string]string) (any, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	plain := true
	size := 1
	for k, v := range attrs {
		switch {
		case k == "":
			return nil, fmt.Errorf("%w: attribute with an empty name", batch.ErrInvalid)
		case !utf8.ValidString(k):
			return nil, fmt.Errorf("%w: attribute name %q is not valid UTF-8", batch.ErrInvalid, k)
		case !utf8.ValidString(v):
			return nil, fmt.Errorf("%w: attribute %q: value %q is not valid UTF-8", batch.ErrInvalid, k, v)
		}
		plain = plain && plainJSON(k) && plainJSON(v)
		size += len(k) + len(v) + 6
	}
	if !plain {
		b, err := json.Marshal(attrs)
		if err != nil {
			return nil, fmt.Errorf("%w: attributes: %v", batch.ErrInvalid, err)
		}
		return string(b), nil
	}
	var keys [8]string
	ks := keys[:0]
	for k := range attrs {
		ks = append(ks, k)
	}
	slices.Sort(ks) // as encoding/json orders them
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(k)
		b.WriteString(`":"`)
		b.WriteString(attrs[k])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
}

// plainJSON reports whether s can be written between JSON quotes as it is,
// and reads back the same: printable ASCII other than the quote and the
// backslash (encoding/json would also escape <, > and &, which it reads
// back alike).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func decodeAttrs(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	if m, ok := decodePlainAttrs(s.String); ok {
		return m, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("%w: stored attributes: %v", batch.ErrInvalid, err)
	}
	return m, nil
}

// decodePlainAttrs decodes an object of the form encodeAttrs writes on its
// fast path: {"k":"v",...} without spaces, with plain keys and values. ok
// is false for anything else, which encoding/json then decodes (or
// refuses).
func decodePlainAttrs(s string) (m map[string]string, ok bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	rest := s[1 : len(s)-1]
	m = make(map[string]string, strings.Count(rest, `":"`))
	str := func() (string, bool) {
		if len(rest) == 0 || rest[0] != '"' {
			return "", false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return "", false
		}
		v := rest[1 : 1+end]
		if !plainJSON(v) {
			return "", false
		}
		rest = rest[2+end:]
		return v, true
	}
	for first := true; len(rest) > 0 || first; first = false {
		if !first {
			if rest[0] != ',' {
				return nil, false
			}
			rest = rest[1:]
		}
		if first && len(rest) == 0 {
			break // {}
		}
		k, ok := str()
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return nil, false
		}
		rest = rest[1:]
		v, ok := str()
		if !ok {
			return nil, false
		}
		m[k] = v
	}
	return m, true
}
