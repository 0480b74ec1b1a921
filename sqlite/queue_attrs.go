package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"tipoff/batch"
)

// encodeAttrs returns the stored form of attributes: NULL when there are
// none, else a JSON object. Keys must be non-empty and keys and values
// valid UTF-8 (JSON would silently alter anything else); the error wraps
// [batch.ErrInvalid].
func encodeAttrs(attrs map[string]string) (any, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	for k, v := range attrs {
		switch {
		case k == "":
			return nil, fmt.Errorf("%w: attribute with an empty name", batch.ErrInvalid)
		case !utf8.ValidString(k):
			return nil, fmt.Errorf("%w: attribute name %q is not valid UTF-8", batch.ErrInvalid, k)
		case !utf8.ValidString(v):
			return nil, fmt.Errorf("%w: attribute %q: value %q is not valid UTF-8", batch.ErrInvalid, k, v)
		}
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return nil, fmt.Errorf("%w: attributes: %v", batch.ErrInvalid, err)
	}
	return string(b), nil
}

func decodeAttrs(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("%w: stored attributes: %v", batch.ErrInvalid, err)
	}
	return m, nil
}
