// Package sqlite is tipoff's embedded backend: the batch [Store], the durable
// [Queue] and the prediction data tables, all in one SQLite file in WAL mode,
// through the pure-Go modernc.org/sqlite driver (the binary builds with
// CGO_ENABLED=0). Migrations are embedded and applied by [Open].
//
// It imports, of tipoff's packages, only batch and predict.
package sqlite
