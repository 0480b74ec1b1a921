// Package systems lists tipoff's default prediction systems, in the order
// they run: the ensemble last, because it combines the others' outputs.
//
// It imports predict and its system subpackages.
package systems
