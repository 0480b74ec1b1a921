package batchtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// RequireEnv returns the value of the environment variable name. When it is
// unset the test is skipped with a note on how to provide it, or fails when
// CI is true (CI=true, 1 or yes, as scripts/test reads it): in CI a missing
// emulator must not pass quietly.
func RequireEnv(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	msg := fmt.Sprintf("%s is not set: %s", name, howToSet(name))
	if inCI() {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skip(msg)
	return ""
}

func howToSet(name string) string {
	switch name {
	case "FIRESTORE_EMULATOR_HOST":
		return "run scripts/test, which starts the emulator, or start it with " +
			"`gcloud emulators firestore start --host-port=127.0.0.1:8086` and " +
			"export FIRESTORE_EMULATOR_HOST=127.0.0.1:8086"
	case "PUBSUB_EMULATOR_HOST":
		return "run scripts/test, which starts the emulator, or start it with " +
			"`gcloud beta emulators pubsub start --host-port=127.0.0.1:8085` and " +
			"export PUBSUB_EMULATOR_HOST=127.0.0.1:8085"
	}
	return "set it to run these tests (scripts/test sets up what this machine has)"
}

func inCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "true", "1", "yes":
		return true
	}
	return false
}

var uniqueSeq atomic.Uint64

// UniqueID returns an identifier no other test, in this process or another,
// gets: a hash of the test's name, random bits and a counter. It is 6-30
// lower-case letters, digits and hyphens starting with a letter, so it can
// name a Firestore project, a Pub/Sub topic or a file.
func UniqueID(t testing.TB) string {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatalf("unique id: %v", err)
	}
	id := fmt.Sprintf("t%08x-%s%x", h.Sum32(), hex.EncodeToString(r[:]), uniqueSeq.Add(1))
	if len(id) > 30 {
		id = id[:30]
	}
	return id
}
