// Package dataimport reads tipoff's input data into a [predict.Dataset]:
// [ReadDir] decodes a directory of CSV files (plain or gzip) with errors
// that name the file, line and column, and [Synthetic] builds a
// deterministic demo league so a fresh clone can run the whole pipeline
// without outside data.
//
// It imports, of tipoff's packages, only batch and predict.
//
// Invariants: a bad row never yields a partial data set (ReadDir returns an
// error and no data); rows that refer to each other agree (a game log's
// date and teams are its game's); an error is reported once, at the row
// that has it; every decoder round-trips (decode → encode → decode
// gives the same value), checked by the fuzz tests; Synthetic(seed, opts)
// returns the same data set, with the same Version, for the same arguments.
package dataimport
