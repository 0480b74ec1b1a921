package gcpstorage

import (
	"fmt"
	"strings"

	"tipoff/batch"
)

// Scheme starts every Cloud Storage location tipoff takes: gs://bucket/prefix.
const Scheme = "gs://"

// IsURL reports whether s names a Cloud Storage location rather than a
// local path.
func IsURL(s string) bool { return strings.HasPrefix(s, Scheme) }

// Location is a bucket and a prefix of object names in it, without a
// trailing slash ("" is the bucket's root).
type Location struct {
	Bucket string
	Prefix string
}

// ParseURL parses gs://bucket/prefix. It returns an error wrapping
// [batch.ErrInvalid] that names s if s is not one.
func ParseURL(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return Location{}, fmt.Errorf("%w: %q is not a gs://bucket/prefix location", batch.ErrInvalid, s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	switch {
	case bucket == "":
		return Location{}, fmt.Errorf("%w: %q names no bucket: want gs://bucket/prefix", batch.ErrInvalid, s)
	case strings.Contains(prefix, "//"):
		return Location{}, fmt.Errorf("%w: %q: empty element in the prefix", batch.ErrInvalid, s)
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

// String returns the location as gs://bucket/prefix.
func (l Location) String() string {
	if l.Prefix == "" {
		return Scheme + l.Bucket
	}
	return Scheme + l.Bucket + "/" + l.Prefix
}

// Object returns the name of the object called name under the prefix.
func (l Location) Object(name string) string {
	if l.Prefix == "" {
		return name
	}
	return l.Prefix + "/" + name
}

// URL returns gs://bucket/<the object called name under the prefix>.
func (l Location) URL(name string) string { return Scheme + l.Bucket + "/" + l.Object(name) }
