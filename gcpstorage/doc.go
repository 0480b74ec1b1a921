// Package gcpstorage keeps the cloud shape's files in Cloud Storage through
// its API (no FUSE mount): the day's picks export ([Exporter], a
// [pipeline.Exporter] and [pipeline.ExportReader]) and the versioned input
// data set ([Data]: [Data.Read] for the coordinator, [Data.Push] for
// "tipoff data push").
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
