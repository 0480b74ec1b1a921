package pipeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/internal/realdata"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

// BenchmarkStarter_NextNewBatch_RealData times a new batch (a new run label)
// of the busiest real day after a first one, on the real CSV directory, as a
// cloud coordinator starts it: reading and parsing the directory again
// ("read") or finding its version unchanged and reusing the data set and
// the fit kept ("kept"). The fit is the same in both (the first batch's).
//
//	go test -run '^$' -bench Starter_NextNewBatch_RealData -benchtime 5x -benchmem ./pipeline
func BenchmarkStarter_NextNewBatch_RealData(b *testing.B) {
	dir := realdata.Dir(b)
	for _, keep := range []bool{false, true} {
		name := "read"
		if keep {
			name = "kept"
		}
		b.Run(name, func(b *testing.B) {
			db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "tipoff.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			d := pipeline.NewDataSource(pipeline.DataSourceConfig{Path: dir, Keep: keep, Version: dataimport.StatVersion,
				Read: func(_ context.Context, path string) (*predict.Dataset, error) { return dataimport.ReadDir(path) }})
			store := sqlite.NewStore(db)
			starter := pipeline.NewStarter(pipeline.StarterConfig{Engine: batch.NewEngine(store, sqlite.NewQueue(db, sqlite.QueueConfig{}), nil, batch.EngineConfig{}),
				Store: store, Load: d.Load, Calibrations: d,
				Settings: pipeline.Settings{Run: "daily", Policy: batch.Policy{}.WithDefaults(),
					Select: predict.SelectOptions{MinGames: 3, MinMinutes: 12}, Request: predict.RequestOptions{Books: predict.DefaultBooks}}})
			start := func(run string) {
				if _, created, err := starter.Start(b.Context(), pipeline.StartRequest{Date: "2025-12-23", Run: run}); err != nil || !created {
					b.Fatalf("start %s: created %v, %v", run, created, err)
				}
			}
			start("first")
			b.ResetTimer()
			for i := range b.N {
				start(fmt.Sprintf("r%d", i))
			}
		})
	}
}
