package batchtest_test

import (
	"sync"
	"testing"
	"time"

	"tipoff/batch/batchtest"
)

// Advances from many goroutines all count, while readers see the clock
// only move forward; Set then puts it anywhere.
func TestManualClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 15, 14, 0, 0, 0, time.UTC)
	c := batchtest.NewManualClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now before any advance: got %v, want %v", got, start)
	}
	const goroutines, steps = 8, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range steps {
				c.Advance(time.Second)
			}
		})
		wg.Go(func() {
			last := start
			for range steps {
				now := c.Now()
				if now.Before(last) {
					t.Errorf("Now went back from %v to %v", last, now)
					return
				}
				last = now
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(goroutines*steps*time.Second); !got.Equal(want) {
		t.Fatalf("Now after %d advances of 1s: got %v, want %v", goroutines*steps, got, want)
	}
	c.Set(start.Add(-time.Hour))
	if got, want := c.Now(), start.Add(-time.Hour); !got.Equal(want) {
		t.Fatalf("Now after Set: got %v, want %v", got, want)
	}
}
