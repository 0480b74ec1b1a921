package health

import (
	"time"

	"tipoff/httpapi"
)

// Level is how one check came out.
type Level string

// Levels, best first.
const (
	OK   Level = "ok"
	Skip Level = "skip" // not checked, or not applicable yet
	Warn Level = "warn"
	Fail Level = "fail"
)

// Status is the verdict of a whole report.
type Status string

// Statuses; [Status.ExitCode] gives each one's exit code.
const (
	Healthy   Status = "healthy"   // everything checked is as it should be
	Degraded  Status = "degraded"  // it worked, with losses or delays to look at
	Unhealthy Status = "unhealthy" // a person must act
)

// ExitCode returns the exit status of "tipoff health" for s: 0 healthy,
// 1 unhealthy, 2 degraded. An unknown status is 1.
func (s Status) ExitCode() int {
	switch s {
	case Healthy:
		return 0
	case Degraded:
		return 2
	default:
		return 1
	}
}

// Check is one line of a [Report].
type Check struct {
	Name    string   `json:"name"`
	Level   Level    `json:"level"`
	Message string   `json:"message"`
	Items   []string `json:"items,omitempty"` // the players or topics the check is about
}

// Report is what a health check finds. Its JSON form is the output of
// "tipoff health --json": the field names are an interface.
type Report struct {
	Status    Status               `json:"status"`
	ExitCode  int                  `json:"exit_code"`
	Date      string               `json:"date"`
	Run       string               `json:"run,omitempty"`
	Source    string               `json:"source"` // what was read, e.g. "db tipoff.db"
	CheckedAt time.Time            `json:"checked_at"`
	Checks    []Check              `json:"checks"`
	Service   *httpapi.ServiceInfo `json:"service,omitempty"`
	Batch     *httpapi.BatchReport `json:"batch,omitempty"`
	Others    []string             `json:"other_batches,omitempty"` // other batches of the date, newest first
	// Live is the date's publication, the picks users get: whose batch,
	// run label and result. Nil when nothing is published or it is not
	// known.
	Live  *httpapi.PublicationReport `json:"live,omitempty"`
	Queue *httpapi.QueueReport       `json:"queue,omitempty"`
}

// Add appends a check. Call [Report.Finish] after the last one.
func (r *Report) Add(name string, level Level, msg string, items ...string) {
	r.Checks = append(r.Checks, Check{Name: name, Level: level, Message: msg, Items: items})
}

// Finish sets Status from the worst check and ExitCode from Status. It may
// be called again after more checks are added.
func (r *Report) Finish() {
	r.Status = Healthy
	for _, c := range r.Checks {
		switch c.Level {
		case Fail:
			r.Status = Unhealthy
		case Warn:
			if r.Status == Healthy {
				r.Status = Degraded
			}
		}
	}
	r.ExitCode = r.Status.ExitCode()
}

// Find returns the check named name and whether there is one.
func (r *Report) Find(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}
