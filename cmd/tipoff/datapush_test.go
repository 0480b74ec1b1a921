package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"tipoff/batch"
	"tipoff/predict"
)

// TestCloudStorage pushes a data directory with "tipoff data push" to a
// fake Cloud Storage server (STORAGE_EMULATOR_HOST, as gcpstorage.NewClient
// reads it), then wires the coordinator's data and exports on gs://
// locations: it loads the pushed version, and its export is read back by
// the status pages' reader. Not parallel: it sets the environment.
func TestCloudStorage(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "b"})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))

	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("schedule.csv", "season,season_type,game_date,game_id,away_abbr,home_abbr,away_pts,home_pts,has_box_scores\n"+
		"2024-25,Regular Season,2025-01-01,g1,BBB,AAA,100,110,1\n")
	logs := "season,season_type,game_id,game_date,player_id,player_name,team_abbr,opp_abbr,home_away,starter,played,minutes,pts\n"
	write("player_game_logs.csv", logs+"2024-25,Regular Season,g1,2025-01-01,p1,Player One,AAA,BBB,H,1,1,30,x\n")
	if _, err := runMain(t, "data", "push", dir, "gs://b/nba"); err == nil || !strings.Contains(err.Error(), "player_game_logs.csv:2") {
		t.Fatalf("push of bad data: got %v, want the parser's error naming player_game_logs.csv:2", err)
	}
	write("player_game_logs.csv", logs+"2024-25,Regular Season,g1,2025-01-01,p1,Player One,AAA,BBB,H,1,1,30,20\n")
	out, err := runMain(t, "data", "push", dir, "gs://b/nba")
	if err != nil || !strings.Contains(out, "gs://b/nba: version ") || !strings.Contains(out, "(was none): 2 files") {
		t.Fatalf("push: %q, %v", out, err)
	}

	c := &cloud{cfg: Config{ExportDir: "gs://b/exports"}, log: discardLogger()}
	if err := c.openFiles(t.Context(), "gs://b/nba"); err != nil {
		t.Fatal(err)
	}
	ds, err := c.data.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := ds.LogOn("p1", predict.MustParseDate("2025-01-01")); !ok || l.Stats.Pts != 20 || !strings.Contains(out, ds.Version()) {
		t.Fatalf("coordinator's data: p1 %+v (found %v), version %s; want the pushed log (20 pts) and version (%q)", l, ok, ds.Version(), out)
	}
	date := predict.MustParseDate("2025-01-01")
	pub := &predict.Publication{Date: date, BatchID: "b1", Result: batch.ResultSucceeded, PublishedAt: time.Now().UTC()}
	loc, err := c.exporter.Export(t.Context(), pub)
	if err != nil || loc != "gs://b/exports/2025-01-01.json" {
		t.Fatalf("export: %q, %v", loc, err)
	}
	ex, err := c.export(t.Context(), date)
	if err != nil || !ex.Exists || ex.BatchID != "b1" || ex.Path != loc {
		t.Fatalf("export read back: %+v, %v", ex, err)
	}
}
