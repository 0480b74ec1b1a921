package health

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// listLimit bounds the players listed under one check in text output.
const listLimit = 20

// Terminal colours of the levels.
var levelColour = map[Level]string{OK: "\x1b[32m", Warn: "\x1b[33m", Fail: "\x1b[31m", Skip: "\x1b[2m"}

var levelLabel = map[Level]string{OK: "ok  ", Warn: "WARN", Fail: "FAIL", Skip: "--  "}

var statusColour = map[Status]string{Healthy: "\x1b[1;32m", Degraded: "\x1b[1;33m", Unhealthy: "\x1b[1;31m"}

// WriteText prints the report for a person: a verdict line, then one line
// per check and up to listLimit of its players; with colour, in a
// terminal's colours.
func WriteText(w io.Writer, r *Report, colour bool) {
	paint := func(code, s string) string {
		if !colour {
			return s
		}
		return code + s + "\x1b[0m"
	}
	what := r.Date
	if r.Run != "" {
		what += "/" + r.Run
	}
	fmt.Fprintf(w, "tipoff health %s (%s): %s\n", what, r.Source, paint(statusColour[r.Status], strings.ToUpper(string(r.Status))))
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  %s %-*s  %s\n", paint(levelColour[c.Level], levelLabel[c.Level]), width, c.Name, c.Message)
		for i, it := range c.Items {
			if i == listLimit {
				fmt.Fprintf(w, "       … and %d more (--json lists them all)\n", len(c.Items)-listLimit)
				break
			}
			fmt.Fprintf(w, "       - %s\n", it)
		}
	}
}

// WriteJSON prints the report for machines, as "tipoff health --json"
// does: one indented JSON object (see [Report] for its fields).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
