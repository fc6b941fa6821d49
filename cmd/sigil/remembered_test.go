package main

import (
	"context"
	"log/slog"
	"net/url"
	"testing"

	"github.com/urfave/cli/v2"
)

// resolveNPM runs upstreamURL for npm as serve does, with npm's own
// configuration answering clientRegistry.
func resolveNPM(t *testing.T, cacheDir, clientRegistry string, args ...string) *url.URL {
	t.Helper()
	src := npmSource
	src.fallback = func(context.Context) string { return clientRegistry }
	var got *url.URL
	app := &cli.App{
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: defaultListen},
			&cli.StringFlag{Name: "npm-upstream"},
		},
		Action: func(c *cli.Context) error {
			logger := slog.New(slog.DiscardHandler)
			mem := newUpstreamMemory(cacheDir)
			u, err := upstreamURL(c, src, logger, mem)
			remember(mem, logger, map[string]*url.URL{src.flag: u})
			got = u
			return err
		},
	}
	if err := app.Run(append([]string{"sigil"}, args...)); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestUpstreamRemembered: after `npm config set registry` to sigil (as the
// README says), the next serve without --npm-upstream follows the
// upstream the previous run followed, until a flag says otherwise.
func TestUpstreamRemembered(t *testing.T) {
	dir := t.TempDir()
	const upstream = "https://registry.example.test/"
	const self = "http://127.0.0.1:8780/npm/"

	if u := resolveNPM(t, dir, upstream); u == nil || u.String() != upstream {
		t.Fatalf("first run: %v, want npm's configured registry", u)
	}
	// npm now points at sigil: the remembered upstream is used.
	if u := resolveNPM(t, dir, self); u == nil || u.String() != upstream {
		t.Fatalf("after npm was pointed at sigil: %v, want %s", u, upstream)
	}
	// A flag wins, and is remembered in turn.
	const other = "https://mirror.example.test/npm/"
	if u := resolveNPM(t, dir, self, "--npm-upstream", other); u == nil || u.String() != other {
		t.Fatalf("with the flag: %v", u)
	}
	if u := resolveNPM(t, dir, self); u == nil || u.String() != other {
		t.Fatalf("after the flag: %v, want %s", u, other)
	}
	// Without a memory (another cache directory), sigil itself is refused.
	if u := resolveNPM(t, t.TempDir(), self); u != nil {
		t.Fatalf("fresh cache, npm pointing at sigil: %v, want none", u)
	}
}
