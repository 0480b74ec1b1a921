package gcpstorage

import (
	"errors"
	"net/http"

	"google.golang.org/api/googleapi"
)

// preconditionFailed reports whether err is Cloud Storage refusing a
// write whose generation condition did not hold (HTTP 412).
func preconditionFailed(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed
}
