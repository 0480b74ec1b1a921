package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"tipoff/pipeline"
	"tipoff/predict"
)

// A load whose caller went away (a /start client that disconnected) is
// not the data's fault: it is logged below ERROR and leaves the last
// load's verdict, which /health reports, as it was.
func TestDataSource_CallerGone(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	read := func(ctx context.Context, path string) (*predict.Dataset, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	d := pipeline.NewDataSource("/data/nba", read, log)
	before := d.Info()
	if _, err := d.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with its caller gone: %v, want context.Canceled", err)
	}
	if got := d.Info(); got != before {
		t.Errorf("Info after an abandoned load: %+v, want %+v", got, before)
	}
	if strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "data load abandoned") {
		t.Errorf("logged:\n%s\nwant the abandoned load below ERROR", logs.String())
	}
}
