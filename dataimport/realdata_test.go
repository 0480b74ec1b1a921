package dataimport_test

import (
	"testing"

	"tipoff/dataimport"
	"tipoff/internal/realdata"
)

// The real files decode completely, with the row counts their README
// states.
func TestReadDir_RealData(t *testing.T) {
	t.Parallel()
	ds, err := dataimport.ReadDir(realdata.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	// README: 5,182 schedule rows, 116,950 game logs, and 67,193 + 4,998 +
	// 11,160 prop lines.
	if got := len(ds.Games()); got != 5182 {
		t.Errorf("games: got %d, want 5182", got)
	}
	if got := len(ds.Logs()); got != 116950 {
		t.Errorf("game logs: got %d, want 116950", got)
	}
	if got := len(ds.Lines()); got != 67193+4998+11160 {
		t.Errorf("prop lines: got %d, want %d", got, 67193+4998+11160)
	}
}

func BenchmarkReadDir_RealData(b *testing.B) {
	dir := realdata.Dir(b)
	for b.Loop() {
		if _, err := dataimport.ReadDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}
