// Package gcpstorage keeps the cloud shape's files in Cloud Storage through
// its API (no FUSE mount): the day's picks export ([Exporter], a
// [pipeline.Exporter] and [pipeline.ExportReader]) and the versioned input
// data set ([Data]: [Data.Read] for the coordinator, [Data.Push] for
// "tipoff data push").
//
// [Client] calls the JSON API through its generated client,
// google.golang.org/api/storage/v1, with Application Default Credentials,
// or an emulator without authentication when STORAGE_EMULATOR_HOST is set.
// It does not use the cloud.google.com/go/storage library: that links gRPC
// xDS, the Envoy protos and its own metrics exporters into every binary
// (about 25 MB of tipoff's, and tens of milliseconds of package init at
// each start) for calls that are a few HTTP requests.
//
// It may import batch, predict, pipeline and dataimport; never another
// backend or httpapi.
//
// Invariants:
//   - An export is one object write: readers see the old export or the
//     new. A writer holding an older publication never replaces a newer
//     export: it writes on condition of the generation it read
//     (TestExporter_StaleWriterRefused).
//   - A data refresh is atomic: a read follows prefix/CURRENT once and
//     reads that version's objects at the generations it listed, so a push
//     during a read never mixes versions (TestData_PushDuringRead,
//     TestData_ObjectReplacedDuringRead).
//   - A push parses the directory fully before uploading anything
//     (TestData_BadDirRefused) and moves the pointer only on condition that
//     no other push moved it since it began
//     (TestData_TwoPushesDoNotInterleave).
package gcpstorage
