// Package similar is the similar-games prediction system. It looks through
// the player's recent games for ones played in conditions like tonight's —
// opponent defence, venue, rest and the player's form going in, each game
// with its real opponent, venue and rest — and scales tonight's moving
// average by how he did against his own moving average in those games,
// weighted by similarity and recency and shrunk toward no change.
//
// It imports, of tipoff's packages, only predict. It is pure and
// deterministic.
package similar
