package integration

import (
	"strings"
	"testing"
)

// TestUnsignedWarnOneNoticePerPackage: --unsigned warn, chosen, tells
// each unsigned package once per install, in the client's output, however
// many versions the package has and however many documents and archives
// the client asks for; and sigil's log says it once per package, not per
// version or request, nor again for a second install.
func TestUnsignedWarnOneNoticePerPackage(t *testing.T) {
	t.Run("composer", func(t *testing.T) {
		needClient(t, "composer")
		reg := newComposerRegistry(t)
		src := func(s string) map[string]string { return map[string]string{"src/" + s + ".php": "<?php\n"} }
		for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
			reg.add(t, &composerVersion{Name: "free/a", Version: v, Require: map[string]string{"free/b": "^1.0"}, Files: src("A")})
		}
		for _, v := range []string{"v1.0.0", "v1.1.0"} {
			reg.add(t, &composerVersion{Name: "free/b", Version: v, Files: src("B")})
		}
		reg.add(t, &composerVersion{Name: "other/c", Version: "v2.0.0", Files: src("C")})
		pkgs := []string{"free/a", "free/b", "other/c"}

		proxy := startServe(t, "--composer-upstream", reg.url(), "--unsigned", "warn")
		for install := 1; install <= 2; install++ {
			dir, out, ok := composerRun(t, proxy.url(), map[string]string{"free/a": "^1.0", "other/c": "^2.0"})
			if !ok || installed(t, dir, "free/b", "src/B.php") == "" || installed(t, dir, "other/c", "src/C.php") == "" {
				t.Fatalf("install %d failed:\n%s", install, out)
			}
			notices := sigilLines(out)
			for _, pkg := range pkgs {
				if n := mentioning(notices, pkg+": the package is unsigned"); n != 1 {
					t.Errorf("install %d: Composer printed %d notices about %s, want 1:\n%s", install, n, pkg, strings.Join(notices, "\n"))
				}
			}
			if len(notices) != len(pkgs) {
				t.Errorf("install %d: Composer printed %d lines of sigil's, want one per package (%d):\n%s", install, len(notices), len(pkgs), strings.Join(notices, "\n"))
			}
		}
		checkQuietLog(t, proxy, pkgs)
	})

	t.Run("npm", func(t *testing.T) {
		needClient(t, "npm")
		reg := newNPMRegistry(t)
		index := map[string]string{"index.js": "module.exports = 1;\n"}
		for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
			reg.add(t, &npmVersion{Name: "free-a", Version: v, Deps: map[string]string{"free-b": "^1.0.0"}, Files: index})
		}
		for _, v := range []string{"1.0.0", "1.1.0"} {
			reg.add(t, &npmVersion{Name: "free-b", Version: v, Files: index})
		}
		reg.add(t, &npmVersion{Name: "@other/c", Version: "2.0.0", Files: index})
		pkgs := []string{"free-a", "free-b", "@other/c"}

		proxy := startServe(t, "--npm-upstream", reg.url(), "--unsigned", "warn")
		for install := 1; install <= 2; install++ {
			dir, out, ok := npmRun(t, proxy.url()+"/npm/", map[string]string{"free-a": "^1.0.0", "@other/c": "^2.0.0"})
			if !ok || npmInstalled(t, dir, "free-b") != "1.1.0" || npmInstalled(t, dir, "@other/c") != "2.0.0" {
				t.Fatalf("install %d failed:\n%s", install, out)
			}
			notices := sigilLines(out)
			// sigil tells a package at most once a minute: a second
			// install that soon may be told nothing.
			for _, pkg := range pkgs {
				n := mentioning(notices, "sigil: "+pkg+": the package is unsigned")
				if n > 1 || install == 1 && n != 1 {
					t.Errorf("install %d: npm printed %d notices about %s:\n%s", install, n, pkg, strings.Join(notices, "\n"))
				}
			}
			if len(notices) > len(pkgs) {
				t.Errorf("install %d: npm printed %d lines of sigil's, want at most one per package (%d):\n%s", install, len(notices), len(pkgs), strings.Join(notices, "\n"))
			}
		}
		checkQuietLog(t, proxy, pkgs)
	})

	// An archive with a real problem (here, metadata that adds to the
	// archive's own manifest) is still told with the archive in warn
	// mode, on top of the package's notice.
	t.Run("a real problem is told with the archive", func(t *testing.T) {
		needClient(t, "composer")
		needClient(t, "npm")
		creg := newComposerRegistry(t)
		creg.add(t, &composerVersion{Name: "free/injected", Version: "v1.0.0", Files: map[string]string{"src/I.php": "<?php\n"},
			Meta: map[string]any{"extra": map[string]any{"injected": true}}})
		nreg := newNPMRegistry(t)
		nreg.add(t, &npmVersion{Name: "free-injected", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 1;\n"},
			Meta: map[string]any{"engines": map[string]any{"node": ">=0"}}})
		proxy := startServe(t, "--composer-upstream", creg.url(), "--npm-upstream", nreg.url(), "--unsigned", "warn", "--mode", "warn")

		_, out, ok := composerRun(t, proxy.url(), map[string]string{"free/injected": "^1.0"})
		if !ok {
			t.Fatalf("warn mode refused free/injected:\n%s", out)
		}
		notices := sigilLines(out)
		if mentioning(notices, "sigil allowed with a warning: free/injected: the package is unsigned") != 1 ||
			mentioning(notices, "sigil serves this archive with a warning: free/injected") != 1 ||
			mentioning(notices, "differ from the archive's own manifest file") != 1 {
			t.Errorf("Composer did not print the package's notice and the archive's problem once each:\n%s", strings.Join(notices, "\n"))
		}

		_, out, ok = npmRun(t, proxy.url()+"/npm/", map[string]string{"free-injected": "^1.0.0"})
		if !ok {
			t.Fatalf("warn mode refused free-injected:\n%s", out)
		}
		notices = sigilLines(out)
		if mentioning(notices, "npm notice sigil: free-injected: the package is unsigned") != 1 ||
			mentioning(notices, "npm notice sigil served free-injected@1.0.0 with a warning:") != 1 ||
			mentioning(notices, "differ from the archive's own manifest file") != 1 {
			t.Errorf("npm did not print the package's notice and the tarball's problem once each:\n%s", strings.Join(notices, "\n"))
		}
	})
}

// sigilLines are the lines of a client's output that carry a message of
// sigil's.
func sigilLines(out string) []string {
	var lines []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "sigil") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

func mentioning(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// checkQuietLog checks that sigil logged one "package decision" line per
// package and nothing about single archives or requests.
func checkQuietLog(t *testing.T, d *daemon, pkgs []string) {
	t.Helper()
	d.stop()
	logs := d.logs.String()
	if n := strings.Count(logs, `msg="package decision"`); n != len(pkgs) {
		t.Errorf("sigil logged %d package decision lines, want one per package (%d):\n%s", n, len(pkgs), logs)
	}
	for _, pkg := range pkgs {
		if n := strings.Count(logs, "package="+pkg+" "); n != 1 {
			t.Errorf("sigil logged %d lines about %s, want 1:\n%s", n, pkg, logs)
		}
	}
	for _, noise := range []string{"archive decision", "tarball served with a warning", "packument served with"} {
		if strings.Contains(logs, noise) {
			t.Errorf("sigil logged %q:\n%s", noise, logs)
		}
	}
}
