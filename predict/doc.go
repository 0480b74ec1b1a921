// Package predict holds tipoff's prediction domain: the in-memory [Dataset]
// (schedule, game logs, prop lines, availability), player selection for a
// date ([SelectPlayers]), the per-player [Request] a worker receives and its
// wire format, the [System] interface, [Run] (request → every system × every
// line → predictions) and grading ([GradePick], [Backtest]). The prediction
// systems live in subpackages, one each; predict/systems lists the default
// set.
//
// It imports, of tipoff's packages, only batch (for its error kinds).
//
// Invariants:
//   - A request for date D is built only from games, logs and ratings dated
//     strictly before D (plus D's own schedule and lines, known before
//     tip-off); TestBuildRequest_NoLookAhead proves it by deleting every
//     row on or after D and comparing.
//   - Everything here is deterministic: no randomness, no clock. The same
//     data and request give the same predictions byte for byte.
//   - Rest days mean the same thing everywhere: full days off before the
//     game (0 = back-to-back); more rest is less fatigue.
//   - P(over) is fitted only on graded predictions before the date
//     ([Calibrate]), and so are the share of its move the system's past
//     picks earned and the record that lets it pick at all; Confidence is
//     P(over) or 1 − P(over) for the prediction's side. The look-ahead test
//     covers all of them, and prices.
//   - A pick is OVER or UNDER only on a sportsbook base line with a price
//     for that side, an expected value at that price of at least
//     [Pricing.MinEV], and a calibration whose record earned the system
//     picks ([PickRecord]); estimated lines and variants are never picked.
//   - A prediction's key is (date, player, system, line), so line variants
//     never collapse into one row.
package predict
