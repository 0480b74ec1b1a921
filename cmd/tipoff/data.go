package main

import (
	"context"
	"os"

	"tipoff/dataimport"
	"tipoff/predict"
	"tipoff/sqlite"
)

// readData reads the data set at path: a CSV directory, or a SQLite file
// made by "tipoff import".
func readData(ctx context.Context, path string) (*predict.Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return dataimport.ReadDir(path)
	}
	return sqlite.LoadDatasetCopy(ctx, path)
}
