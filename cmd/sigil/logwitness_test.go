package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestLogWitnessClientOutboundPolicy: the log reaches its witnesses
// through the one outbound policy, like every fetch of sigil and its log:
// a witness that redirects the log's request elsewhere (another host or
// port, an internal address) is not followed there.
func TestLogWitnessClientOutboundPolicy(t *testing.T) {
	var elsewhere atomic.Int64
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(inside.Close)
	witness := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inside.URL+"/admin", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(witness.Close)

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "log.key")
	if err := os.WriteFile(keyFile, []byte(newTestKey(t, "log.example/w").skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var serve *cli.Command
	for _, c := range logCommand().Subcommands {
		if c.Name == "serve" {
			serve = c
		}
	}
	var client *http.Client
	app := &cli.App{Flags: serve.Flags, Action: func(c *cli.Context) error {
		cfg, err := logServerConfig(c, slog.New(slog.DiscardHandler))
		client = cfg.HTTPClient
		return err
	}}
	err := app.Run([]string{"sigil", "--dir", dir, "--key", keyFile, "--listen", "127.0.0.1:0",
		"--witness", newTestKey(t, "witness.example").vkey + "=" + witness.URL})
	if err != nil {
		t.Fatal(err)
	}
	if client == nil {
		t.Fatal("no client for the witnesses: they are reached without the outbound policy")
	}
	resp, err := client.Post(witness.URL+"/add-checkpoint", "text/plain", strings.NewReader("checkpoint"))
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "sigil does not fetch from") {
		t.Errorf("a witness's redirect elsewhere: %v", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target was reached %d times", n)
	}
}
