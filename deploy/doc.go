// Package deploy holds deploy.sh, which creates or updates tipoff's cloud
// shape in a Google Cloud project, and its runbook (README.md). The
// package has no Go code of its own: its tests run deploy.sh against a
// stand-in gcloud, with DRY_RUN=1 and without, and check the commands it
// would run (roles, subscriptions, database protection, index waiting,
// image platform, service environment). It imports nothing of tipoff.
package deploy
