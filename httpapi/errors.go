package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"tipoff/batch"
)

// errForbidden marks a request refused for who or where it comes from.
var errForbidden = errors.New("forbidden")

// errUnsupportedMediaType marks a request body of a content type the route
// does not take.
var errUnsupportedMediaType = errors.New("unsupported media type")

// errorStatus maps an error's kind onto a status code: not found 404,
// invalid 400, forbidden 403, unsupported media type 415, conflict and
// finalized 409, anything else 500.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, batch.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, batch.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, batch.ErrConflict), errors.Is(err, batch.ErrFinalized):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// apiError is the JSON body of an error answer.
type apiError struct {
	Error string `json:"error"`
}

// writeError answers with err's kind mapped onto a status code as a JSON
// error. A 500 says only "internal error"; the details go to the log.
func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	code := errorStatus(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(apiError{Error: msg})
}
