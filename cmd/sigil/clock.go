package main

import (
	"log/slog"
	"os"
	"strings"
	"time"
)

// testClockEnv names a file whose content (an RFC 3339 time) is the
// process's clock, read on every call. It exists for the end-to-end tests
// (release age, backdated observations), which must move time without
// sleeping; an operator never sets it, and a process that does says so
// loudly at start.
const testClockEnv = "SIGIL_TEST_CLOCK_FILE"

// clock returns the process's clock: time.Now, or the test clock.
func clock(logger *slog.Logger) func() time.Time {
	path := os.Getenv(testClockEnv)
	if path == "" {
		return time.Now
	}
	logger.Warn("TEST CLOCK: the time is read from a file; never set this outside tests", "env", testClockEnv, "file", path)
	return func() time.Time {
		b, err := os.ReadFile(path)
		if err != nil {
			return time.Now()
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
		if err != nil {
			return time.Now()
		}
		return t
	}
}
