package failpoint_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"tipoff/internal/failpoint"
)

// A spec fires its point exactly once, the n-th time that point is
// reached (the first without :n), however many goroutines reach it, and
// never for another point; an empty or unknown spec never fires.
func TestSet_Hit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec      string
		hits      int // times "published" is reached
		wantFired int32
	}{
		{"published", 1, 1},
		{"published", 5, 1},
		{"published:3", 2, 0},
		{"published:3", 3, 1},
		{"published:3", 50, 1},
		{"published:x", 1, 1}, // a bad count means the first time
		{"recorded", 5, 0},
		{"", 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			var fired atomic.Int32
			s := failpoint.New(tt.spec, func() { fired.Add(1) })
			var wg sync.WaitGroup
			for range tt.hits {
				wg.Go(func() { s.Hit("published"); s.Hit("created") })
			}
			wg.Wait()
			if got := fired.Load(); got != tt.wantFired {
				t.Fatalf("%q reached %d times: fired %d times, want %d", tt.spec, tt.hits, got, tt.wantFired)
			}
		})
	}
}

// Arms names the point a spec arms, whatever its count, and nothing else.
func TestSet_Arms(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]bool{"published": true, "published:3": true, "recorded": false, "": false} {
		if got := failpoint.New(spec, func() {}).Arms("published"); got != want {
			t.Errorf("New(%q).Arms(\"published\") = %v, want %v", spec, got, want)
		}
	}
	if failpoint.New("", func() {}).Arms("") {
		t.Error(`an empty spec arms the point ""`)
	}
}
