package gcpfirestore

import (
	"reflect"
	"slices"
	"testing"
)

// A read without requests selects every other field of an item document:
// a field added to itemDoc and not to the list would read back empty.
func TestItemFieldsNoRequest(t *testing.T) {
	var want []string
	typ := reflect.TypeFor[itemDoc]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Tag.Get("firestore"); name != "request" {
			want = append(want, name)
		}
	}
	got := slices.Clone(itemFieldsNoRequest)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("itemFieldsNoRequest = %q, want itemDoc's fields but request: %q", got, want)
	}
}
