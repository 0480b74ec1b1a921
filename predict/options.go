package predict

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParseBooks parses a comma-separated bookmaker preference, most preferred
// first ("draftkings,fanduel"), as the data names them (lower case). It
// returns an error for a list that names no bookmaker. Whether the data has
// them is [Dataset.CheckBooks]'s question.
func ParseBooks(s string) ([]string, error) {
	var books []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			books = append(books, f)
		}
	}
	if len(books) == 0 {
		return nil, errors.New("want at least one bookmaker")
	}
	return books, nil
}

// ParseOffsets parses comma-separated line offsets ("1,2": the base line
// ±1 and ±2), each above 0 and below 100, none twice. An empty string is no
// offsets.
func ParseOffsets(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var offsets []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		k, err := strconv.ParseFloat(f, 64)
		switch {
		case f == "":
			return nil, fmt.Errorf("line offsets %q: an empty entry", s)
		case err != nil || !(k > 0 && k < 100):
			return nil, fmt.Errorf("line offset %q: want a number above 0 and below 100", f)
		case slices.Contains(offsets, k):
			return nil, fmt.Errorf("line offsets %q: %v twice", s, k)
		}
		offsets = append(offsets, k)
	}
	return offsets, nil
}

// Validate returns every out-of-range selection setting, named as the
// command-line flags name them: min-games (0 to 10, of a 10-game window)
// and min-minutes (0 to 48).
func (o SelectOptions) Validate() error {
	var errs []error
	if o.MinGames < 0 || o.MinGames > 10 {
		errs = append(errs, fmt.Errorf("min-games %d: want 0 to 10", o.MinGames))
	}
	if !(o.MinMinutes >= 0 && o.MinMinutes <= 48) {
		errs = append(errs, fmt.Errorf("min-minutes %v: want 0 to 48", o.MinMinutes))
	}
	return errors.Join(errs...)
}
