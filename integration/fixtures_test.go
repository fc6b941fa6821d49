package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// world is one release log with its core key, and the vendor keys made in
// it. Every test builds its own, with fresh keys.
type world struct {
	t    *testing.T
	dir  string
	log  *daemon
	core string // the core verifier key of every ecosystem
	// logKey is the log's verifier key, for sigil serve --log-key.
	logKey string
	// logFlags are added to sigil log serve's (--observe ...), and logEnv
	// to its environment (the test clock).
	logFlags, logEnv []string
	// beforeLog, when set, runs once the keys exist and before the log
	// starts (to start a witness that knows the log key).
	beforeLog func(*world)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, nil, nil)
}

// newWorldHook is newWorld with a hook that sets the log's flags once the
// keys exist.
func newWorldHook(t *testing.T, beforeLog func(*world)) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, dir: dir, beforeLog: beforeLog}
	return w.init()
}

// newWorldWith is newWorld with extra flags and environment for the log.
func newWorldWith(t *testing.T, logFlags, logEnv []string) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, dir: dir, logFlags: logFlags, logEnv: logEnv}
	return w.init()
}

func (w *world) init() *world {
	t, dir := w.t, w.dir
	w.core = strings.TrimSpace(sigil(t, dir, "keygen", "--name", "composer-core", "--out", filepath.Join(dir, "core")))
	w.logKey = strings.TrimSpace(sigil(t, dir, "keygen", "--name", "log.sigil.test", "--out", filepath.Join(dir, "log")))
	if w.beforeLog != nil {
		w.beforeLog(w)
	}
	w.startLog(freeAddr(t), filepath.Join(dir, "logdir"))
	return w
}

func (w *world) startLog(addr, dir string) {
	w.t.Helper()
	w.log = startDaemon(w.t, addr, "/checkpoint", w.logEnv, append([]string{
		"log", "serve", "--dir", dir, "--key", filepath.Join(w.dir, "log.key"),
		"--listen", addr, "--core-key", w.core, "--checkpoint-interval", "200ms"}, w.logFlags...)...)
}

// forkLog plays a log operator who starts a second history of the same log,
// with the same key, at the same address: whatever it logs next is a fork
// of what sigil serve has seen.
func (w *world) forkLog() {
	w.t.Helper()
	w.log.stop()
	w.startLog(w.log.addr, w.t.TempDir())
}

// key makes a vendor key and returns the path prefix of its files.
func (w *world) key(name string) string {
	w.t.Helper()
	prefix := filepath.Join(w.dir, name)
	sigil(w.t, w.dir, "keygen", "--name", name, "--out", prefix)
	return prefix
}

// event signs a key event with signer (a prefix) about key (a prefix) and
// logs it.
func (w *world) event(action, signer, namespace, key string) {
	w.t.Helper()
	w.ecoEvent("composer", action, signer, namespace, key)
}

// ecoEvent is event for any ecosystem.
func (w *world) ecoEvent(eco, action, signer, namespace, key string) {
	w.t.Helper()
	out := filepath.Join(w.dir, "event-"+eco+"-"+action+"-"+filepath.Base(key)+"-"+filepath.Base(signer)+".sig")
	sigil(w.t, w.dir, "key", action, "--key", signer+".key", "--ecosystem", eco,
		"--namespace", namespace, "--out", out, key+".pub")
	w.add(out)
}

// sign signs a version's zip with key (a prefix) and returns the statement
// file; it is not logged.
func (w *world) sign(key string, v *composerVersion, zip []byte) string {
	w.t.Helper()
	base := strings.ReplaceAll(v.Name, "/", "_") + "-" + v.Version + "-" + filepath.Base(key)
	zipPath := filepath.Join(w.dir, base+".zip")
	writeFile(w.t, zipPath, zip)
	out := filepath.Join(w.dir, base+".sig")
	sigil(w.t, w.dir, "sign", "--key", key+".key", "--ecosystem", "composer", "--package", v.Name,
		"--version", v.Version, "--source", v.Ref, "--out", out, zipPath)
	return out
}

// add submits notes to the log.
func (w *world) add(files ...string) {
	w.t.Helper()
	sigil(w.t, w.dir, append([]string{"log", "add", "--log", w.log.url()}, files...)...)
}

// serve starts sigil serve against the log and upstream, configured by
// flags, and returns it.
func (w *world) serve(upstream string, flags ...string) *daemon {
	w.t.Helper()
	return w.serveCache(upstream, w.t.TempDir(), flags...)
}

// serveCache is serve with a given cache directory, for tests that restart
// sigil over the same cache.
func (w *world) serveCache(upstream, cacheDir string, flags ...string) *daemon {
	w.t.Helper()
	return w.serveAt(freeAddr(w.t), upstream, cacheDir, flags...)
}

// serveAt is serveCache at a given address, for tests that restart sigil
// where a lock file's URLs point.
func (w *world) serveAt(addr, upstream, cacheDir string, flags ...string) *daemon {
	w.t.Helper()
	args := append([]string{"serve", "--listen", addr, "--cache-dir", cacheDir,
		"--log", w.log.url(), "--log-key", w.logKey, "--core-key", w.core,
		"--composer-upstream", upstream}, flags...)
	return startDaemon(w.t, addr, "/-/healthz", nil, args...)
}

// composerRun runs composer in a fresh project that requires pkgs from
// sigil only, and returns its output and whether it succeeded. Each run has
// its own Composer cache, so every archive is fetched through sigil.
func composerRun(t *testing.T, proxy string, require map[string]string) (string, string, bool) {
	t.Helper()
	return composerRunWith(t, proxy, require, nil)
}

// composerRunWith is composerRun with an auth.json for the project (nil:
// none).
func composerRunWith(t *testing.T, proxy string, require map[string]string, authJSON []byte) (string, string, bool) {
	t.Helper()
	needClient(t, "composer")
	dir := t.TempDir()
	if authJSON != nil {
		writeFile(t, filepath.Join(dir, "auth.json"), authJSON)
	}
	project := map[string]any{
		"name": "test/project",
		"repositories": []any{
			map[string]any{"type": "composer", "url": proxy + "/composer"},
			map[string]any{"packagist": false},
		},
		"require":           require,
		"minimum-stability": "stable",
		// sigil listens on loopback over plain HTTP in these tests.
		"config": map[string]any{"secure-http": false},
	}
	writeFile(t, filepath.Join(dir, "composer.json"), mustJSON(t, project))
	out, ok := composerIn(t, dir, "update", "--no-audit")
	return dir, out, ok
}

// composerIn runs composer with args in the project dir, with the
// project's own Composer home and cache, and returns its output and
// whether it succeeded.
func composerIn(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	bin := needClient(t, "composer")
	cmd := commandIn(dir, bin, append(args, "--no-interaction", "--no-progress", "--no-ansi")...)
	cmd.Env = append(cleanEnv(),
		"COMPOSER_HOME="+filepath.Join(dir, ".home"),
		"COMPOSER_CACHE_DIR="+filepath.Join(dir, ".cache"),
		"COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_NO_INTERACTION=1",
		"COMPOSER_DISABLE_XDEBUG_WARN=1",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("composer %s (%v):\n%s", args[0], err, out)
	return string(out), err == nil
}

// installed reports the installed file of a package, or "" when it is not
// there.
func installed(t *testing.T, project, pkg, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(project, "vendor", pkg, file))
	if err != nil {
		return ""
	}
	return string(data)
}
