package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/internal/witnesstest"
)

// gitRepo makes a git repository in dir holding files, committed, with
// an identity of its own (the machine's configuration is not read).
func gitRepo(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), []byte(data))
	}
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "first")
}

func gitEnv() []string {
	return append(cleanEnv(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Vendor", "GIT_AUTHOR_EMAIL=vendor@example.invalid",
		"GIT_COMMITTER_NAME=Vendor", "GIT_COMMITTER_EMAIL=vendor@example.invalid")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	needClient(t, "git")
	cmd := commandIn(dir, "git", args...)
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// publishTag plays the registry picking up a pushed tag: it serves the
// zipball of the tag (git archive under a GitHub-style top directory),
// with the commit as reference.
func publishTag(t *testing.T, reg *composerRegistry, repo, name, tag string) {
	t.Helper()
	ref := git(t, repo, "rev-parse", tag+"^{commit}")
	zip := filepath.Join(t.TempDir(), "dist.zip")
	git(t, repo, "archive", "--format=zip", "--prefix="+strings.ReplaceAll(name, "/", "-")+"-"+ref[:7]+"/", "-o", zip, tag)
	data, err := os.ReadFile(zip)
	if err != nil {
		t.Fatal(err)
	}
	reg.addArchive(&composerVersion{Name: name, Version: tag, Ref: ref}, data)
}

// TestComposerResignAfterRevoke: a release made with sigil release from a
// tag installs; after its key is revoked it does not; re-signed with the
// new key (sigil release --resign) it installs again. The same statement
// signed by a key with no rights is refused by the log.
func TestComposerResignAfterRevoke(t *testing.T) {
	needClient(t, "composer")
	w := newWorld(t)
	reg := newComposerRegistry(t)
	acme := w.key("acme-release")
	w.event("add", w.coreKey(), "acme", acme)

	repo := filepath.Join(w.dir, "foo")
	gitRepo(t, repo, map[string]string{
		"composer.json": `{"name": "acme/foo"}`,
		"src/Foo.php":   "<?php // Foo\n",
	})
	git(t, repo, "tag", "v1.0.0")
	release := func(args ...string) string {
		t.Helper()
		return sigil(t, repo, append([]string{"release", "--log", w.log.url(), "--log-key", w.logKey}, args...)...)
	}
	if out := release("--key", acme+".key"); !regexp.MustCompile(`^acme/foo v1\.0\.0: index \d+\n$`).MatchString(out) {
		t.Fatalf("sigil release printed %q", out)
	}
	publishTag(t, reg, repo, "acme/foo", "v1.0.0")

	install := func() (string, bool) {
		t.Helper()
		proxy := w.serve(reg.url(), "--mode", "enforce")
		defer proxy.stop()
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/foo": "^1.0"})
		return out, ok && strings.Contains(installed(t, dir, "acme/foo", "src/Foo.php"), "Foo")
	}
	if out, ok := install(); !ok {
		t.Fatalf("the released version did not install:\n%s", out)
	}

	// The same statement, signed by a key with no rights: refused.
	mallory := w.key("mallory")
	forged := filepath.Join(w.dir, "forged.sig")
	sigil(t, repo, "sign", "--key", mallory+".key", "--ecosystem", "composer", "--package", "acme/foo",
		"--version", "v1.0.0", "--git", "v1.0.0", "--out", forged)
	if _, errOut, err := sigilResult(t, w.dir, nil, "log", "add", "--log", w.log.url(), forged); err == nil ||
		!strings.Contains(errOut, "refused by the log (403)") {
		t.Fatalf("the log admitted a logged statement signed by an unauthorized key: %v\n%s", err, errOut)
	}

	w.event("revoke", w.coreKey(), "acme", acme)
	if out, ok := install(); ok {
		t.Fatalf("a release signed only by a revoked key installed:\n%s", out)
	}
	acme2 := w.key("acme-release-2")
	w.event("add", w.coreKey(), "acme", acme2)
	if out := release("--resign", "--key", acme2+".key"); !strings.HasPrefix(out, "acme/foo v1.0.0: index ") {
		t.Fatalf("sigil release --resign printed %q", out)
	}
	if out, ok := install(); !ok {
		t.Fatalf("the re-signed release did not install:\n%s", out)
	}
}

// TestVendorGuide follows the README's "For vendors" guide in a fresh git
// repository, running its sh blocks in order against a real log, playing
// the registry (a pushed tag is published) and a user (Composer installs
// through sigil) between them.
func TestVendorGuide(t *testing.T) {
	needClient(t, "composer")
	blocks := guideBlocks(t)
	w := newWorld(t)
	reg := newComposerRegistry(t)
	dir := t.TempDir()
	core, err := os.ReadFile(w.coreKey() + ".key")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "core.key"), core)
	gitRepo(t, filepath.Join(dir, "foo"), map[string]string{
		"composer.json": `{"name": "acme/foo"}`,
		"src/Foo.php":   "<?php // Foo\n",
	})
	env := append(gitEnv(), "PATH="+filepath.Dir(sigilBin(t))+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SIGIL_LOG="+w.log.url(), "SIGIL_LOG_KEY="+w.logKey, "HOME="+t.TempDir())
	cwd := filepath.Join(dir, ".cwd")
	writeFile(t, cwd, []byte(dir))
	published := false
	for i, b := range blocks {
		// Each block runs where the previous one left off (the guide cds).
		script := "set -e\ncd \"$(cat " + cwd + ")\"\n" + b + "\npwd > " + cwd + "\n"
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		t.Logf("block %d:\n%s\n-> %v\n%s", i+1, b, err, out)
		if err != nil {
			t.Fatalf("the guide's block %d failed: %v\n%s\n%s", i+1, err, b, out)
		}
		if !strings.Contains(b, "sigil release --key") && !strings.Contains(b, "sigil release --resign") {
			continue
		}
		if !published {
			publishTag(t, reg, filepath.Join(dir, "foo"), "acme/foo", "v1.0.0")
			published = true
		}
		proxy := w.serve(reg.url(), "--mode", "enforce")
		project, cout, ok := composerRun(t, proxy.url(), map[string]string{"acme/foo": "^1.0"})
		proxy.stop()
		if !ok || installed(t, project, "acme/foo", "src/Foo.php") == "" {
			t.Fatalf("after block %d, acme/foo does not install:\n%s", i+1, cout)
		}
	}
	if !published {
		t.Fatal("the guide never released")
	}
}

// guideBlocks returns the sh code blocks of the README's "For vendors"
// section, in order.
func guideBlocks(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	start := strings.Index(s, "\n## For vendors")
	if start < 0 {
		t.Fatal("README has no \"For vendors\" section")
	}
	s = s[start+1:]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(s, -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) < 4 {
		t.Fatalf("the guide has %d sh blocks; want the whole way from keygen to a re-signed release", len(blocks))
	}
	return blocks
}

// TestComposerVendorRevokeAfterCoreRevoke: the core key revokes a vendor
// key (break-glass), then the vendor revokes it too with its other key.
// The log keeps the vendor's own event, so a proxy that refuses
// break-glass blocks what the stolen key signed.
func TestComposerVendorRevokeAfterCoreRevoke(t *testing.T) {
	needClient(t, "composer")
	w := newWorld(t)
	reg := newComposerRegistry(t)
	stolen, spare := w.key("acme-stolen"), w.key("acme-spare")
	w.event("add", w.coreKey(), "acme", stolen)
	w.event("add", stolen, "acme", spare)
	v := &composerVersion{Name: "acme/foo", Version: "v1.0.0", Files: map[string]string{"src/Foo.php": "<?php // Foo\n"}}
	w.add(w.sign(stolen, v, reg.add(t, v)))

	w.event("revoke", w.coreKey(), "acme", stolen)
	strict := w.serve(reg.url(), "--break-glass=false")
	if _, out, ok := composerRun(t, strict.url(), map[string]string{"acme/foo": "^1.0"}); !ok {
		t.Fatalf("before the vendor's own revoke, a proxy refusing break-glass still trusts the key:\n%s", out)
	}
	strict.stop()

	revoke := filepath.Join(w.dir, "vendor-revoke.sig")
	sigil(t, w.dir, "key", "revoke", "--key", spare+".key", "--ecosystem", "composer", "--namespace", "acme", "--out", revoke, stolen+".pub")
	if out := sigil(t, w.dir, "log", "add", "--log", w.log.url(), revoke); strings.Contains(out, "already") {
		t.Fatalf("the vendor's revoke was not logged as its own entry: %q", out)
	}
	strict = w.serve(reg.url(), "--break-glass=false")
	if _, out, ok := composerRun(t, strict.url(), map[string]string{"acme/foo": "^1.0"}); ok {
		t.Fatalf("a proxy refusing break-glass installed what the vendor's revoked key signed:\n%s", out)
	}
}

// TestReleaseChecksWitnesses: with --witness, sigil release reports a
// release once a checkpoint cosigned by those witnesses proves it; with a
// witness the log does not use, the release is logged but not reported
// done, and the message says why.
func TestReleaseChecksWitnesses(t *testing.T) {
	var wit *witnesstest.Witness
	w := newWorldHook(t, func(w *world) {
		wit = witnesstest.Start(t, "witness.sigil.test", w.logKey)
		w.logFlags = []string{"--witness", wit.VerifierKey() + "=" + wit.URL}
	})
	acme := w.key("acme-release")
	w.event("add", w.coreKey(), "acme", acme)
	repo := filepath.Join(w.dir, "foo")
	gitRepo(t, repo, map[string]string{"composer.json": `{"name": "acme/foo"}`, "src/Foo.php": "<?php // Foo\n"})
	git(t, repo, "tag", "v1.0.0")
	release := []string{"release", "--log", w.log.url(), "--log-key", w.logKey, "--key", acme + ".key"}
	if out := sigil(t, repo, append(release, "--witness", wit.VerifierKey())...); !regexp.MustCompile(`^acme/foo v1\.0\.0: index \d+\n$`).MatchString(out) {
		t.Fatalf("sigil release with the log's witness printed %q", out)
	}

	other, err := witnesstest.New("other-witness.sigil.test")
	if err != nil {
		t.Fatal(err)
	}
	git(t, repo, "tag", "v1.0.1")
	out, errOut, err := sigilResult(t, repo, nil, append(release, "--witness", other.VerifierKey(), "v1.0.1")...)
	if err == nil || strings.Contains(out, "v1.0.1: index") {
		t.Fatalf("sigil release reported a release no checkpoint cosigned by its witness proves: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"acme/foo v1.0.1: logged, but not proven", "other-witness.sigil.test", "--witness"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the error lacks %q:\n%s", want, errOut)
		}
	}
}
