package main

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
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

// TestUpstreamWithCredentials: sigil sends no credentials upstream, so an
// upstream URL that holds them is refused (the flag) or not followed (the
// client's configuration), and the password is never logged, printed or
// remembered.
func TestUpstreamWithCredentials(t *testing.T) {
	const secret = "s3cret"
	const withCreds = "https://user:" + secret + "@registry.example.test/"
	run := func(dir, clientRegistry string, args ...string) (*url.URL, string, error) {
		src := npmSource
		src.fallback = func(context.Context) string { return clientRegistry }
		var got *url.URL
		var logs strings.Builder
		app := &cli.App{
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "listen", Value: defaultListen},
				&cli.StringFlag{Name: "npm-upstream"},
			},
			Action: func(c *cli.Context) error {
				logger := slog.New(slog.NewTextHandler(&logs, nil))
				mem := newUpstreamMemory(dir)
				u, err := upstreamURL(c, src, logger, mem)
				remember(mem, logger, map[string]*url.URL{src.flag: u})
				got = u
				return err
			},
		}
		err := app.Run(append([]string{"sigil"}, args...))
		return got, logs.String(), err
	}

	dir := t.TempDir()
	u, logs, err := run(dir, withCreds)
	if err != nil || u != nil {
		t.Errorf("npm configured with credentials in its registry URL: %v, %v; want no upstream", u, err)
	}
	if strings.Contains(logs, secret) || !strings.Contains(logs, "registry.example.test") || !strings.Contains(logs, "credentials") {
		t.Errorf("log: %s", logs)
	}
	if u, _, _ := run(dir, ""); u != nil {
		t.Errorf("remembered %v", u)
	}
	// What an earlier sigil remembered is not followed either.
	old := t.TempDir()
	if err := newUpstreamMemory(old).set("npm-upstream", withCreds); err != nil {
		t.Fatal(err)
	}
	if u, logs, _ := run(old, ""); u != nil || strings.Contains(logs, secret) {
		t.Errorf("remembered with credentials: %v\n%s", u, logs)
	}

	u, logs, err = run(t.TempDir(), "", "--npm-upstream", withCreds)
	if err == nil || u != nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("--npm-upstream with credentials: %v, %v", u, err)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("log: %s", logs)
	}
}
