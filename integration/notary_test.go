package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/internal/witnesstest"
)

// notary is a log that observes one Composer registry (what everyone is
// served), and a second registry that serves the same packages to one
// victim, except for other bytes (free/pkg) and other dependencies
// (free/deps): a split view.
type notary struct {
	w             *world
	honest, split *composerRegistry
	clock         string // the test clock file of every process
}

func newNotary(t *testing.T) *notary {
	t.Helper()
	needClient(t, "composer")
	n := &notary{honest: newComposerRegistry(t), split: newComposerRegistry(t)}
	n.clock = filepath.Join(t.TempDir(), "clock")
	n.setClock(t, time.Now())
	n.w = newWorldWith(t, []string{"--observe", "composer=" + n.honest.url()}, n.env())
	for _, r := range []*composerRegistry{n.honest, n.split} {
		r.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php // free\n"}})
		r.add(t, &composerVersion{Name: "free/deps", Version: "v1.0.0", Files: map[string]string{"src/Deps.php": "<?php // deps\n"}})
	}
	n.split.tamper(n.split.versions["free/pkg"][0], zipTree(t, "free-pkg-abababa", map[string]string{
		"composer.json": `{"name":"free/pkg"}`,
		"src/Free.php":  "<?php system($_GET['x']);\n",
	}))
	n.split.setRequire(n.split.versions["free/deps"][0], map[string]string{"evil/dep": "^1.0"})
	return n
}

func (n *notary) env() []string { return []string{"SIGIL_TEST_CLOCK_FILE=" + n.clock} }

func (n *notary) setClock(t *testing.T, at time.Time) {
	t.Helper()
	writeFile(t, n.clock, []byte(at.UTC().Format(time.RFC3339)))
}

// serve starts a proxy with an empty cache over upstream.
func (n *notary) serve(upstream string, flags ...string) *daemon {
	n.w.t.Helper()
	addr := freeAddr(n.w.t)
	args := append([]string{"serve", "--listen", addr, "--cache-dir", n.w.t.TempDir(),
		"--log", n.w.log.url(), "--log-key", n.w.logKey, "--core-key", n.w.core,
		"--composer-upstream", upstream, "--unsigned", "allow"}, flags...)
	return startDaemon(n.w.t, addr, "/-/healthz", n.env(), args...)
}

func TestNotarySplitView(t *testing.T) {
	n := newNotary(t)
	both := map[string]string{"free/pkg": "^1.0", "free/deps": "^1.0"}

	// A proxy on the honest view installs; the log observes what it fetches.
	old := n.serve(n.honest.url())
	dir, out, ok := composerRun(t, old.url(), both)
	if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" || installed(t, dir, "free/deps", "src/Deps.php") == "" {
		t.Fatalf("honest view did not install:\n%s", out)
	}

	t.Run("other bytes are blocked with the evidence", func(t *testing.T) {
		victim := n.serve(n.split.url())
		dir, out, ok := composerRun(t, victim.url(), map[string]string{"free/pkg": "^1.0"})
		if ok || installed(t, dir, "free/pkg", "src/Free.php") != "" {
			t.Fatalf("split-view bytes installed:\n%s", out)
		}
		wantAll(t, out, "free/pkg", "the release log observed", "observation at log index")
	})
	t.Run("other dependencies are blocked with the evidence", func(t *testing.T) {
		victim := n.serve(n.split.url())
		_, out, ok := composerRun(t, victim.url(), map[string]string{"free/deps": "^1.0"})
		if ok {
			t.Fatalf("split-view dependencies installed:\n%s", out)
		}
		wantAll(t, out, "free/deps", "what the release log observed", "observation at log index")
	})
	t.Run("warn mode serves and says why", func(t *testing.T) {
		victim := n.serve(n.split.url(), "--mode", "warn")
		dir, out, ok := composerRun(t, victim.url(), map[string]string{"free/pkg": "^1.0"})
		if !ok || !strings.Contains(installed(t, dir, "free/pkg", "src/Free.php"), "system") {
			t.Fatalf("warn mode did not install the split view:\n%s", out)
		}
		if !strings.Contains(victim.logs.String(), "the release log observed") {
			t.Errorf("warn mode did not report the mismatch:\n%s", victim.logs.String())
		}
	})
	t.Run("a new cache gets the same verdicts", func(t *testing.T) {
		// Without the log's observation, a new proxy would pin whatever it
		// sees first; with it, a new proxy on either view decides as the
		// old ones did.
		fresh := n.serve(n.honest.url())
		dir, out, ok := composerRun(t, fresh.url(), both)
		if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
			t.Fatalf("new cache on the honest view:\n%s", out)
		}
		victim := n.serve(n.split.url())
		if _, out, ok := composerRun(t, victim.url(), map[string]string{"free/pkg": "^1.0"}); ok {
			t.Fatalf("new cache on the split view installed:\n%s", out)
		}
	})
}

func TestNotaryCooldown(t *testing.T) {
	n := newNotary(t)
	start := time.Now().UTC().Truncate(time.Second)
	n.setClock(t, start)
	proxy := n.serve(n.honest.url(), "--min-release-age", "72h")
	_, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.0"})
	if ok {
		t.Fatalf("a version observed just now installed under --min-release-age 72h:\n%s", out)
	}
	wantAll(t, out, "free/pkg", "min-release-age", "installable from "+start.Add(72*time.Hour).Format(time.RFC3339))

	n.setClock(t, start.Add(71*time.Hour))
	if _, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.0"}); ok {
		t.Fatalf("installed an hour early:\n%s", out)
	}
	n.setClock(t, start.Add(72*time.Hour+time.Minute))
	dir, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.0"})
	if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
		t.Fatalf("did not install once old enough:\n%s", out)
	}
}

// observations returns the observation entries the log holds for pkg.
func observations(t *testing.T, logURL, pkg, version string) []string {
	t.Helper()
	resp, err := http.Get(logURL + "/lookup/composer/" + pkg + "?version=" + version)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lookup: %s %s", resp.Status, body)
	}
	var r struct{ Entries []struct{ Note string } }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range r.Entries {
		if strings.HasPrefix(e.Note, "sigil-observed/v1\n") {
			out = append(out, e.Note)
		}
	}
	return out
}

func TestNotaryCrash(t *testing.T) {
	n := newNotary(t)
	hold := make(chan struct{})
	n.honest.hold.Store(&hold)
	go http.Get(n.w.log.url() + "/lookup/composer/free/pkg?version=v1.0.0")
	select {
	case <-n.honest.held: // the log is downloading the archive
	case <-time.After(30 * time.Second):
		t.Fatal("the log never fetched the archive")
	}
	if err := n.w.log.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	n.w.log.stop()
	n.honest.hold.Store(nil)
	close(hold)

	n.w.startLog(n.w.log.addr, filepath.Join(n.w.dir, "logdir"))
	before := n.honest.hitsFor(distPath(n.honest.versions["free/pkg"][0]))
	if got := observations(t, n.w.log.url(), "free/pkg", "v1.0.0"); len(got) != 1 {
		t.Fatalf("after kill -9 and restart: %d observations, want 1: %q", len(got), got)
	}
	if got := observations(t, n.w.log.url(), "free/pkg", "v1.0.0"); len(got) != 1 {
		t.Fatalf("asked again: %d observations, want 1", len(got))
	}
	if hits := n.honest.hitsFor(distPath(n.honest.versions["free/pkg"][0])) - before; hits != 1 {
		t.Errorf("the archive was fetched %d times after the restart, want once", hits)
	}
}

// TestNotaryBackdated plays a log whose clock goes back two days: its next
// observation is dated before a checkpoint the witness cosigned without it.
// The proxy that stored that checkpoint records a SECURITY ERROR and
// refuses the log.
func TestNotaryBackdated(t *testing.T) {
	needClient(t, "composer")
	reg := newComposerRegistry(t)
	clock := filepath.Join(t.TempDir(), "clock") // absent: the real time
	var wit *witnesstest.Witness
	w := newWorldHook(t, func(w *world) {
		wit = witnesstest.Start(t, "witness.sigil.test", w.logKey)
		w.logFlags = []string{"--observe", "composer=" + reg.url(), "--witness", wit.VerifierKey() + "=" + wit.URL}
		w.logEnv = []string{"SIGIL_TEST_CLOCK_FILE=" + clock}
	})
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php // 1.0\n"}})
	addr := freeAddr(t)
	cacheDir := t.TempDir()
	proxy := startDaemon(t, addr, "/-/healthz", nil, "serve", "--listen", addr, "--cache-dir", cacheDir,
		"--log", w.log.url(), "--log-key", w.logKey, "--core-key", w.core, "--witness", wit.VerifierKey(),
		"--composer-upstream", reg.url(), "--npm-upstream", "http://127.0.0.1:2/", "--unsigned", "allow",
		"--metadata-max-age", "0") // the registry publishes under it: read every change at once
	if _, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.0"}); !ok {
		t.Fatalf("honest first install:\n%s", out)
	}

	writeFile(t, clock, []byte(time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339)))
	reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.1.0", Files: map[string]string{"src/Free.php": "<?php // 1.1\n"}})
	_, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.1"})
	if ok {
		t.Fatalf("installed through a log that backdated an observation:\n%s", out)
	}
	wantAll(t, out, "free/pkg")
	proxy.stop()
	evidence, errOut, _ := sigilResult(t, w.dir, nil, "log", "evidence", "--cache-dir", cacheDir, "--log-key", w.logKey)
	evidence += errOut
	for _, want := range []string{"SECURITY ERROR", "backdated", "sigil-observed/v1", "version v1.1.0"} {
		if !strings.Contains(evidence, want) {
			t.Errorf("sigil log evidence lacks %q:\n%s", want, evidence)
		}
	}
}
