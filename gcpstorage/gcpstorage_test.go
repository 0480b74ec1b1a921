package gcpstorage_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"tipoff/batch"
	"tipoff/gcpstorage"
	"tipoff/httpapi"
	"tipoff/predict"
)

const bucket = "tipoff-test"

// newServer starts a fake Cloud Storage server on a local port with an
// empty bucket and returns it with a client of it (the client the
// commands use, pointed at the server as at an emulator).
func newServer(t *testing.T) (*gcpstorage.Client, *fakestorage.Server) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	c, err := gcpstorage.NewEmulatorClient(t.Context(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func newClient(t *testing.T) *gcpstorage.Client {
	t.Helper()
	c, _ := newServer(t)
	return c
}

// overwrite replaces an object by hand with a new generation (a push never
// does).
func overwrite(t *testing.T, srv *fakestorage.Server, name, body string) {
	t.Helper()
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name}, Content: []byte(body)})
}

func publication(batchID string, at time.Time, players ...string) *predict.Publication {
	pub := &predict.Publication{Date: predict.MustParseDate("2025-12-25"), BatchID: batchID, Run: "daily",
		Result: batch.ResultSucceeded, PublishedAt: at}
	for _, p := range players {
		pub.Players = append(pub.Players, predict.PublishedPlayer{PlayerID: p, Predictions: []predict.Prediction{{System: "baseline"}}})
	}
	return pub
}

func readExport(t *testing.T, e *gcpstorage.Exporter, date predict.Date) *predict.Publication {
	t.Helper()
	rc, _, err := e.OpenExport(t.Context(), date)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var pub predict.Publication
	if err := json.NewDecoder(rc).Decode(&pub); err != nil {
		t.Fatal(err)
	}
	return &pub
}

func TestExporter_WriteAndRead(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	e, err := gcpstorage.NewExporter(c, "gs://"+bucket+"/exports/", nil)
	if err != nil {
		t.Fatal(err)
	}
	date := predict.MustParseDate("2025-12-25")
	read := httpapi.ExportFrom(e, nil)
	before, err := read(t.Context(), date)
	if err != nil || before.Exists || before.Path != "gs://"+bucket+"/exports/2025-12-25.json" {
		t.Fatalf("before any export: got %+v, %v; want a missing gs://%s/exports/2025-12-25.json", before, err, bucket)
	}
	at := time.Date(2025, 12, 25, 14, 0, 0, 123456789, time.UTC)
	loc, err := e.Export(t.Context(), publication("b1", at, "p1", "p2"))
	if err != nil {
		t.Fatal(err)
	}
	if loc != before.Path {
		t.Fatalf("Export returned %q, want %q", loc, before.Path)
	}
	got, err := read(t.Context(), date)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Exists || got.BatchID != "b1" || !got.PublishedAt.Equal(at) || got.Players != 2 || got.Predictions != 2 || got.ModTime.IsZero() || got.Problem != "" {
		t.Fatalf("export read back: got %+v", got)
	}
	// A later publication replaces it; exporting the same one again
	// changes nothing.
	later := publication("b2", at.Add(time.Minute), "p3")
	for range 2 {
		if _, err := e.Export(t.Context(), later); err != nil {
			t.Fatal(err)
		}
	}
	if pub := readExport(t, e, date); pub.BatchID != "b2" || len(pub.Players) != 1 {
		t.Fatalf("after a later publication: export holds %s with %d players, want b2 with 1", pub.BatchID, len(pub.Players))
	}
}

// TestExporter_StaleWriterRefused: a writer holding an older publication
// does not overwrite a newer export, whether it comes after the newer one
// or the newer one gets in between its read and its write.
func TestExporter_StaleWriterRefused(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 12, 25, 14, 0, 0, 0, time.UTC)
	old, newer := publication("old", at, "p1"), publication("new", at.Add(time.Second), "p1", "p2")
	date := old.Date

	t.Run("After", func(t *testing.T) {
		t.Parallel()
		e, err := gcpstorage.NewExporter(newClient(t), "gs://"+bucket+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Export(t.Context(), newer); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Export(t.Context(), old); err != nil {
			t.Fatalf("stale export: %v, want it left alone without an error", err)
		}
		if got := readExport(t, e, date); got.BatchID != "new" {
			t.Fatalf("export holds %s after a stale write, want new", got.BatchID)
		}
	})

	// The stale writer reads the object while it still holds nothing (or
	// an older export), then the newer writer writes: the stale write's
	// generation condition fails, it reads again and leaves the newer.
	for _, start := range []*predict.Publication{nil, publication("oldest", at.Add(-time.Hour), "p9")} {
		name := "BetweenReadAndWrite/Empty"
		if start != nil {
			name = "BetweenReadAndWrite/Older"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			stale, err := gcpstorage.NewExporter(c, "gs://"+bucket+"/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			fresh, _ := gcpstorage.NewExporter(c, "gs://"+bucket+"/x", nil)
			if start != nil {
				if _, err := fresh.Export(t.Context(), start); err != nil {
					t.Fatal(err)
				}
			}
			writes := 0
			stale.SetBeforeWrite(func() {
				writes++
				if writes == 1 {
					if _, err := fresh.Export(t.Context(), newer); err != nil {
						t.Errorf("newer export: %v", err)
					}
				}
			})
			if _, err := stale.Export(t.Context(), old); err != nil {
				t.Fatal(err)
			}
			if writes != 1 {
				t.Errorf("stale writer tried to write %d times, want once (then it sees the newer export)", writes)
			}
			if got := readExport(t, fresh, date); got.BatchID != "new" {
				t.Fatalf("export holds %s, want new: a stale writer overwrote a newer export", got.BatchID)
			}
		})
	}
}

// writeData writes a data directory.
func writeData(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	scheduleCSV = `season,season_type,game_date,game_id,away_abbr,home_abbr,away_pts,home_pts,has_box_scores
2024-25,Regular Season,2025-01-01,g1,BBB,AAA,100,110,1
2024-25,Regular Season,2025-01-05,,CCC,AAA,,,0
`
	logsHeader = "season,season_type,game_id,game_date,player_id,player_name,team_abbr,opp_abbr,home_away,starter,played,minutes,pts\n"
	logsV1     = logsHeader + "2024-25,Regular Season,g1,2025-01-01,p1,Player One,AAA,BBB,H,1,1,30,20\n"
	logsV2     = logsHeader + "2024-25,Regular Season,g1,2025-01-01,p1,Player One,AAA,BBB,H,1,1,30,31\n"
	propsCSV   = "game_date,player_id,bookmaker,line\n2025-01-05,p1,draftkings,18.5\n"
)

func dataV1(t *testing.T) string {
	return writeData(t, map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsV1, "props_a.csv": propsCSV, "notes.txt": "not data"})
}

func dataV2(t *testing.T) string {
	return writeData(t, map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsV2, "props_a.csv": propsCSV})
}

func pts(t *testing.T, ds *predict.Dataset) int {
	t.Helper()
	l, ok := ds.LogOn("p1", predict.MustParseDate("2025-01-01"))
	if !ok {
		t.Fatal("no game log of p1 on 2025-01-01")
	}
	return l.Stats.Pts
}

func objects(t *testing.T, srv *fakestorage.Server) []string {
	t.Helper()
	resp, err := srv.ListObjectsWithOptionsPaginated(bucket, fakestorage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range resp.Objects {
		names = append(names, a.Name)
	}
	return names
}

func TestData_PushThenRead(t *testing.T) {
	t.Parallel()
	c, srv := newServer(t)
	d, err := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Push(t.Context(), dataV1(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Previous != "" || strings.Join(res.Files, ",") != "schedule.csv,player_game_logs.csv,props_a.csv" {
		t.Fatalf("first push: got %+v, want no previous version and the three data files", res)
	}
	for _, name := range objects(t, srv) {
		if strings.HasSuffix(name, "notes.txt") {
			t.Errorf("%s uploaded: only data files are", name)
		}
	}
	ds, p, err := d.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != res.Version || ds.Version() != res.DataVersion || pts(t, ds) != 20 || len(ds.Lines()) != 1 {
		t.Fatalf("read version %s (data %s, %d pts); want %s (data %s, 20 pts)", p.Version, ds.Version(), pts(t, ds), res.Version, res.DataVersion)
	}
	d.NowFunc = func() time.Time { return time.Now().Add(time.Hour) }
	res2, err := d.Push(t.Context(), dataV2(t))
	if err != nil {
		t.Fatal(err)
	}
	if res2.Previous != res.Version || res2.Version == res.Version {
		t.Fatalf("second push: got %+v, want a new version after %s", res2, res.Version)
	}
	if ds, _, err := d.Read(t.Context()); err != nil || pts(t, ds) != 31 {
		t.Fatalf("after the second push: %v", err)
	}
}

// TestData_PushDuringRead: a push that completes while a read is between
// two files does not change what that read returns: it read the version
// the pointer named when it began, whole.
func TestData_PushDuringRead(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	reader, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	pusher, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	first, err := pusher.Push(t.Context(), dataV1(t))
	if err != nil {
		t.Fatal(err)
	}
	pusher.NowFunc = func() time.Time { return time.Now().Add(time.Hour) }
	v2 := dataV2(t)
	var opened []string
	reader.SetBeforeOpen(func(name string) {
		opened = append(opened, name)
		if name == "player_game_logs.csv" { // after the schedule, before the logs
			if _, err := pusher.Push(t.Context(), v2); err != nil {
				t.Errorf("push during the read: %v", err)
			}
		}
	})
	ds, p, err := reader.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(opened) < 2 || opened[0] != "schedule.csv" {
		t.Fatalf("files opened %q: want the schedule first, then the logs (the push in between)", opened)
	}
	if p.Version != first.Version || ds.Version() != first.DataVersion || pts(t, ds) != 20 {
		t.Fatalf("read during a push: version %s, data %s, %d pts; want the first version %s whole (data %s, 20 pts)",
			p.Version, ds.Version(), pts(t, ds), first.Version, first.DataVersion)
	}
	reader.SetBeforeOpen(nil)
	if ds, _, err := reader.Read(t.Context()); err != nil || pts(t, ds) != 31 {
		t.Fatalf("the next read: %v, want the pushed version", err)
	}
}

// TestData_ObjectReplacedDuringRead: a version's object overwritten by
// hand while a read is under way is an error, not a mix: the read is
// pinned to the generations it listed.
func TestData_ObjectReplacedDuringRead(t *testing.T) {
	t.Parallel()
	c, srv := newServer(t)
	d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	res, err := d.Push(t.Context(), dataV1(t))
	if err != nil {
		t.Fatal(err)
	}
	d.SetBeforeOpen(func(name string) {
		if name != "player_game_logs.csv" {
			return
		}
		overwrite(t, srv, "nba/v/"+res.Version+"/player_game_logs.csv", logsV2)
	})
	ds, _, err := d.Read(t.Context())
	if err == nil {
		t.Fatalf("read across an overwrite returned data (%d pts), want an error", pts(t, ds))
	}
	if !strings.Contains(err.Error(), "player_game_logs.csv") || !strings.Contains(err.Error(), "replaced or deleted") {
		t.Fatalf("got %v, want it to name the replaced object", err)
	}
}

// TestData_TwoPushesDoNotInterleave: a push whose pointer moved since it
// began is refused, and the pointer keeps the other push's version.
func TestData_TwoPushesDoNotInterleave(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	a, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	b, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	b.NowFunc = func() time.Time { return time.Now().Add(time.Hour) }
	var won gcpstorage.PushResult
	v2 := dataV2(t)
	a.SetBeforePointer(func() {
		var err error
		if won, err = b.Push(t.Context(), v2); err != nil {
			t.Errorf("the other push: %v", err)
		}
	})
	_, err := a.Push(t.Context(), dataV1(t))
	if !errors.Is(err, batch.ErrConflict) {
		t.Fatalf("push whose pointer moved: got %v, want ErrConflict", err)
	}
	p, err := a.Current(t.Context())
	if err != nil || p.Version != won.Version {
		t.Fatalf("pointer at %q (%v), want the other push's %q", p.Version, err, won.Version)
	}
}

// TestData_BadDirRefused: a directory that does not parse is refused with
// the parser's errors, and nothing is uploaded.
func TestData_BadDirRefused(t *testing.T) {
	t.Parallel()
	c, srv := newServer(t)
	d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	bad := writeData(t, map[string]string{"schedule.csv": scheduleCSV,
		"player_game_logs.csv": logsHeader + "2024-25,Regular Season,g1,2025-01-01,p1,Player One,AAA,BBB,H,1,1,30,lots\n"})
	_, err := d.Push(t.Context(), bad)
	if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "player_game_logs.csv:2") || !strings.Contains(err.Error(), "pts") {
		t.Fatalf("bad data: got %v, want ErrInvalid naming player_game_logs.csv:2 and the column", err)
	}
	if names := objects(t, srv); len(names) != 0 {
		t.Fatalf("objects after a refused push: %q, want none", names)
	}
}

func TestData_NoPointer(t *testing.T) {
	t.Parallel()
	d, _ := gcpstorage.NewData(newClient(t), "gs://"+bucket+"/nba")
	_, _, err := d.Read(t.Context())
	if !errors.Is(err, batch.ErrNotFound) || !strings.Contains(err.Error(), "gs://"+bucket+"/nba/CURRENT") ||
		!strings.Contains(err.Error(), "tipoff data push DIR gs://"+bucket+"/nba") {
		t.Fatalf("no pointer: got %v, want ErrNotFound naming gs://%s/nba/CURRENT and how to push", err, bucket)
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    gcpstorage.Location
		wantErr bool
	}{
		{"gs://b/p", gcpstorage.Location{Bucket: "b", Prefix: "p"}, false},
		{"gs://b/p/q/", gcpstorage.Location{Bucket: "b", Prefix: "p/q"}, false},
		{"gs://b", gcpstorage.Location{Bucket: "b"}, false},
		{"gs:///p", gcpstorage.Location{}, true},
		{"gs://b/p//q", gcpstorage.Location{}, true},
		{"/data/nba", gcpstorage.Location{}, true},
	}
	for _, tt := range tests {
		got, err := gcpstorage.ParseURL(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, batch.ErrInvalid)) {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestData_Version: the version is found without reading the data, is the
// same while nothing changes, and changes with a push or with an object
// of the current version replaced by hand; a location without data is an
// error naming it.
func TestData_Version(t *testing.T) {
	t.Parallel()
	c, srv := newServer(t)
	d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	version := gcpstorage.VersionFunc(c)
	if _, err := version(t.Context(), "gs://"+bucket+"/nba"); !errors.Is(err, batch.ErrNotFound) || !strings.Contains(err.Error(), "gs://"+bucket+"/nba/CURRENT") {
		t.Fatalf("version with no data: %v, want ErrNotFound naming the pointer", err)
	}
	res, err := d.Push(t.Context(), dataV1(t))
	if err != nil {
		t.Fatal(err)
	}
	var opened []string
	d.SetBeforeOpen(func(name string) { opened = append(opened, name) })
	v1, err := d.Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again, err := version(t.Context(), "gs://"+bucket+"/nba"); err != nil || again != v1 || !strings.HasPrefix(v1, res.Version+"@") {
		t.Fatalf("version twice: %q then %q (%v); want the same, naming %s", v1, again, err, res.Version)
	}
	if len(opened) != 0 {
		t.Fatalf("the version check opened %q, want no data file read", opened)
	}

	// An object of the current version replaced (never done by a push).
	overwrite(t, srv, "nba/v/"+res.Version+"/player_game_logs.csv", logsV2)
	replaced, err := d.Version(t.Context())
	if err != nil || replaced == v1 {
		t.Fatalf("version after an object was replaced: %q (%v), want other than %q", replaced, err, v1)
	}

	d.NowFunc = func() time.Time { return time.Now().Add(time.Hour) }
	res2, err := d.Push(t.Context(), dataV2(t))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := d.Version(t.Context())
	if err != nil || v2 == replaced || v2 == v1 || !strings.HasPrefix(v2, res2.Version+"@") {
		t.Fatalf("version after a push: %q (%v), want a new one naming %s", v2, err, res2.Version)
	}
}
