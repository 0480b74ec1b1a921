package main

import (
	"context"
	"errors"
	"fmt"

	"tipoff/gcpstorage"
)

const dataUsage = `Usage: tipoff data push DIR gs://BUCKET/PREFIX

Makes the data directory DIR the cloud coordinator's input data (--data
gs://BUCKET/PREFIX). DIR is parsed fully first: bad data is refused with the
parser's errors and nothing is uploaded. Its data files are uploaded as a
new version, PREFIX/v/VERSION/, and then the pointer PREFIX/CURRENT moves to
it, so a run reads one version whole. If another push moved the pointer
meanwhile, this one fails: push again. Credentials: Application Default
Credentials (STORAGE_EMULATOR_HOST for an emulator).`

func runData(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "data", dataUsage)
	if _, err := b.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 3 || fs.Arg(0) != "push" {
		fs.Usage()
		return errors.New("data: want push DIR gs://BUCKET/PREFIX")
	}
	client, err := gcpstorage.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("data push: cloud storage: %w", err)
	}
	d, err := gcpstorage.NewData(client, fs.Arg(2))
	if err != nil {
		return fmt.Errorf("data push: %w", err)
	}
	res, err := d.Push(ctx, fs.Arg(1))
	if err != nil {
		return fmt.Errorf("data push: %w", err)
	}
	fmt.Fprintf(m.Stdout, "%s: %s\n", d.Location(), res)
	return nil
}
