package main

import (
	"net/url"
	"testing"
)

func TestForwardPrefix(t *testing.T) {
	for raw, want := range map[string]string{
		"https://repo.example.test":                    "/",
		"https://repo.example.test/":                   "/",
		"https://repo.example.test/acme":               "/acme",
		"https://repo.example.test/acme/":              "/acme",
		"https://repo.example.test/packages.json":      "/",
		"https://repo.example.test/acme/packages.json": "/acme",
	} {
		u, _ := url.Parse(raw)
		if got := forwardPrefix(u); got != want {
			t.Errorf("forwardPrefix(%s) = %q, want %q", raw, got, want)
		}
	}
}
