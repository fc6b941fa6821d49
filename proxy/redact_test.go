package proxy

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://files.test/a/b.zip":                   "https://files.test/a/b.zip",
		"https://files.test/a/b.zip?token=SECRET":      "https://files.test/a/b.zip?…",
		"https://files.test/a/b.zip?":                  "https://files.test/a/b.zip?…",
		"https://files.test/a#SECRET":                  "https://files.test/a?…",
		"https://user:SECRET@files.test/a?x=SECRET":    "https://files.test/a?…",
		"https://user:SECRET@files.test:%zz/a?SECRET=": "…@files.test:%zz/a?…",
		"/p2/acme/foo.json?SECRET":                     "/p2/acme/foo.json?…",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// An upstream failure names the URL without its query, also where the
// HTTP client's error repeats the URL.
func TestUpstreamErrorRedacted(t *testing.T) {
	u := "https://files.test/a.zip?token=SECRET"
	for _, err := range []error{
		&UpstreamError{URL: u, Status: 500, Err: errors.New("unexpected answer")},
		&UpstreamError{URL: u, Err: &url.Error{Op: "Get", URL: u, Err: errors.New("connection refused")}},
	} {
		msg := err.Error()
		if strings.Contains(msg, "SECRET") || !strings.Contains(msg, "https://files.test/a.zip?…") {
			t.Errorf("%s", msg)
		}
	}
}
