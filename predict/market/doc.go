// Package market is the line-aware prediction system. It treats the
// sportsbook line as the best single forecast and moves off it only as far
// as independent evidence justifies: it starts from the line and adds a
// fixed share of the gap between the matchup-adjusted moving average and
// the line (shrinkage toward the line). It picks a side only when that
// shrunken edge is at least MinEdge, i.e. when the model disagrees with
// the book by MinEdge/ModelWeight points. Against an estimated line it is
// the matchup model.
//
// It imports, of tipoff's packages, only predict (and matchup for its
// model). It is pure and deterministic.
package market
