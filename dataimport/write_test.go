package dataimport_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/dataimport"
	"tipoff/predict"
)

// A data set written as a directory reads back as the same data set, of
// the same version.
func TestWriteDir_ReadsBack(t *testing.T) {
	t.Parallel()
	league, err := dataimport.Synthetic(5, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-11-20"), Teams: 4})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := dataimport.WriteDir(dir, league); err != nil {
		t.Fatal(err)
	}
	back, err := dataimport.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version() != league.Version() {
		t.Errorf("read back as version %s, want %s", back.Version(), league.Version())
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{{"games", back.Games(), league.Games()}, {"logs", back.Logs(), league.Logs()}, {"lines", back.Lines(), league.Lines()},
		{"statuses", back.Statuses(), league.Statuses()}} {
		if d := cmp.Diff(c.want, c.got); d != "" {
			t.Errorf("%s read back (-written +read):\n%s", c.name, d)
		}
	}
	if len(league.Lines()) == 0 || len(league.Logs()) == 0 {
		t.Error("the synthetic league has no lines or logs: the test checks little")
	}
}
