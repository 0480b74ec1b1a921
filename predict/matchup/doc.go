// Package matchup is the opponent/venue/rest prediction system: the
// player's moving average, rescaled from the mix of opponents, venues and
// rest he had in the games behind it to tonight's opponent defence, venue
// and rest. Every factor comes from the request's data (team and league
// ratings computed from results before the date), none is a constant.
//
// It imports, of tipoff's packages, only predict. It is pure and
// deterministic.
package matchup
