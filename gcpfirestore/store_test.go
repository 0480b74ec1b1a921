package gcpfirestore_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcpfirestore"
)

func TestConformance(t *testing.T) {
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RunStoreTests(t, func(t *testing.T) batch.Store {
		return mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	})
}

func BenchmarkStore(b *testing.B) {
	batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	batchtest.RunStoreBenchmarks(b, func(b *testing.B) batch.Store {
		return mustOpen(b, batchtest.UniqueID(b), gcpfirestore.Config{})
	})
}

// mustOpen opens a store on the emulator in its own project, so tests
// never see each other's documents, and deletes the project's documents
// when the test ends (the emulator keeps everything in memory).
func mustOpen(tb testing.TB, project string, cfg gcpfirestore.Config) *gcpfirestore.Store {
	tb.Helper()
	host := batchtest.RequireEnv(tb, "FIRESTORE_EMULATOR_HOST")
	cfg.ProjectID = project
	s, err := gcpfirestore.Open(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("open store in project %s: %v", project, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
		clearProject(tb, host, project)
	})
	return s
}

// clearProject deletes every document of a project from the emulator,
// through its reset endpoint.
func clearProject(tb testing.TB, host, project string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/emulator/v1/projects/%s/databases/(default)/documents", host, project)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		tb.Errorf("clear emulator project %s: %v", project, err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Errorf("clear emulator project %s: %v", project, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Errorf("clear emulator project %s: %s", project, resp.Status)
	}
}
