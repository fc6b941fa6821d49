package integration

import (
	"strings"
	"testing"
)

// composerScenario publishes, signs and logs the cases of the Composer
// issue in one world and one registry:
//
//	acme/good       v1.0.0 signed and logged                    → installs
//	acme/tampered   v1.0.0 signed; registry then serves other bytes
//	acme/deps       v1.0.0 signed; metadata then gains a dependency
//	acme/unlogged   v1.0.0 signed, never logged
//	acme/newer      v1.0.0 signed, v1.1.0 unsigned
//	burnt/pkg       v1.0.0 signed by a key revoked afterwards
//	calm/pkg        v1.0.0 signed by a key retired afterwards   → installs
//	glass/pkg       v1.0.0 signed by a key the core added over the vendor's (break-glass)
//	free/pkg        v1.0.0 with no keys for its vendor (unsigned)
type composerScenario struct {
	w   *world
	reg *composerRegistry
}

func newComposerScenario(t *testing.T) *composerScenario {
	t.Helper()
	needClient(t, "composer")
	w := newWorld(t)
	reg := newComposerRegistry(t)
	s := &composerScenario{w: w, reg: reg}

	acme := w.key("acme-release")
	w.event("add", w.coreKey(), "acme", acme)

	file := func(name string) map[string]string {
		return map[string]string{"src/" + name + ".php": "<?php // " + name + "\n"}
	}
	signLog := func(key string, v *composerVersion) {
		zip := reg.add(t, v)
		w.add(w.sign(key, v, zip))
	}

	signLog(acme, &composerVersion{Name: "acme/good", Version: "v1.0.0", Files: file("Good")})

	tampered := &composerVersion{Name: "acme/tampered", Version: "v1.0.0", Files: file("Tampered")}
	signLog(acme, tampered)
	reg.tamper(tampered, zipTree(t, "acme-tampered-abababa", map[string]string{
		"composer.json":    `{"name":"acme/tampered"}`,
		"src/Tampered.php": "<?php system($_GET['x']);\n",
	}))

	deps := &composerVersion{Name: "acme/deps", Version: "v1.0.0", Files: file("Deps")}
	signLog(acme, deps)
	reg.setRequire(deps, map[string]string{"php": ">=5.3"})

	unlogged := &composerVersion{Name: "acme/unlogged", Version: "v1.0.0", Files: file("Unlogged")}
	w.sign(acme, unlogged, reg.add(t, unlogged))

	signLog(acme, &composerVersion{Name: "acme/newer", Version: "v1.0.0", Files: file("NewerOld")})
	reg.add(t, &composerVersion{Name: "acme/newer", Version: "v1.1.0", Files: file("NewerNew")})

	burnt := w.key("burnt-release")
	w.event("add", w.coreKey(), "burnt", burnt)
	burntSpare := w.key("burnt-spare")
	w.event("add", burnt, "burnt", burntSpare)
	signLog(burnt, &composerVersion{Name: "burnt/pkg", Version: "v1.0.0", Files: file("Burnt")})
	w.event("revoke", burntSpare, "burnt", burnt)

	calm := w.key("calm-release")
	w.event("add", w.coreKey(), "calm", calm)
	calmNext := w.key("calm-next")
	w.event("add", calm, "calm", calmNext)
	signLog(calm, &composerVersion{Name: "calm/pkg", Version: "v1.0.0", Files: file("Calm")})
	w.event("retire", calmNext, "calm", calm)

	glassOld := w.key("glass-lost")
	w.event("add", w.coreKey(), "glass", glassOld)
	glassNew := w.key("glass-new")
	w.event("add", w.coreKey(), "glass", glassNew) // the vendor lost its key: break-glass
	signLog(glassNew, &composerVersion{Name: "glass/pkg", Version: "v1.0.0", Files: file("Glass")})

	reg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: file("Free")})
	return s
}

func (w *world) coreKey() string { return w.dir + "/core" }

func TestComposerEnforce(t *testing.T) {
	s := newComposerScenario(t)
	proxy := s.w.serve(s.reg.url(), "--mode", "enforce")

	t.Run("signed version installs", func(t *testing.T) {
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/good": "^1.0"})
		if !ok || !strings.Contains(installed(t, dir, "acme/good", "src/Good.php"), "Good") {
			t.Fatalf("acme/good did not install:\n%s", out)
		}
	})
	t.Run("tampered archive is refused", func(t *testing.T) {
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/tampered": "^1.0"})
		if ok || installed(t, dir, "acme/tampered", "src/Tampered.php") != "" {
			t.Fatalf("tampered archive installed:\n%s", out)
		}
		wantAll(t, out, "acme/tampered", "tree")
	})
	t.Run("metadata that gains a dependency is refused", func(t *testing.T) {
		_, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/deps": "^1.0"})
		if ok {
			t.Fatalf("acme/deps installed with altered metadata:\n%s", out)
		}
		wantAll(t, out, "acme/deps", "manifest")
	})
	t.Run("signed but unlogged version is refused", func(t *testing.T) {
		_, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/unlogged": "^1.0"})
		if ok {
			t.Fatalf("unlogged version installed:\n%s", out)
		}
		wantAll(t, out, "acme/unlogged")
	})
	t.Run("unsigned newer version is kept out", func(t *testing.T) {
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/newer": "^1.0"})
		if !ok {
			t.Fatalf("acme/newer did not install at all:\n%s", out)
		}
		if installed(t, dir, "acme/newer", "src/NewerOld.php") == "" || installed(t, dir, "acme/newer", "src/NewerNew.php") != "" {
			t.Fatalf("want the signed v1.0.0, not the unsigned v1.1.0:\n%s", out)
		}
		wantAll(t, out, "v1.1.0")
	})
	t.Run("revoked key", func(t *testing.T) {
		_, out, ok := composerRun(t, proxy.url(), map[string]string{"burnt/pkg": "^1.0"})
		if ok {
			t.Fatalf("version signed by a revoked key installed:\n%s", out)
		}
		wantAll(t, out, "burnt/pkg", "revoked")
	})
	t.Run("retired key still verifies what it signed", func(t *testing.T) {
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"calm/pkg": "^1.0"})
		if !ok || installed(t, dir, "calm/pkg", "src/Calm.php") == "" {
			t.Fatalf("calm/pkg did not install:\n%s", out)
		}
	})
	t.Run("break-glass allowed by default", func(t *testing.T) {
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"glass/pkg": "^1.0"})
		if !ok || installed(t, dir, "glass/pkg", "src/Glass.php") == "" {
			t.Fatalf("glass/pkg did not install with break-glass allowed:\n%s", out)
		}
	})
	t.Run("unsigned vendor is served quietly by default", func(t *testing.T) {
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.0"})
		if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
			t.Fatalf("free/pkg did not install with the default --unsigned allow:\n%s", out)
		}
		if strings.Contains(out, "unsigned") || strings.Contains(out, "sigil allowed") {
			t.Errorf("the default run printed a notice about an unsigned package:\n%s", out)
		}
	})

	t.Run("upstream down after a first install", func(t *testing.T) {
		s.reg.down.Store(true)
		defer s.reg.down.Store(false)
		dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/good": "^1.0"})
		if !ok || installed(t, dir, "acme/good", "src/Good.php") == "" {
			t.Fatalf("acme/good did not install from the cache with the upstream down:\n%s", out)
		}
	})
}

func TestComposerWarn(t *testing.T) {
	s := newComposerScenario(t)
	proxy := s.w.serve(s.reg.url(), "--mode", "warn")
	cases := []struct {
		pkg, file string
		want      []string
	}{
		// A tampered archive is reported while Composer downloads it.
		{"acme/tampered", "src/Tampered.php", []string{"sigil serves this archive with a warning", "acme/tampered", "tree"}},
		{"acme/deps", "src/Deps.php", []string{"acme/deps", "manifest"}},
		{"acme/unlogged", "src/Unlogged.php", []string{"acme/unlogged"}},
		{"acme/newer", "src/NewerNew.php", []string{"v1.1.0"}},
		{"burnt/pkg", "src/Burnt.php", []string{"burnt/pkg", "revoked"}},
	}
	for _, c := range cases {
		t.Run(c.pkg, func(t *testing.T) {
			dir, out, ok := composerRun(t, proxy.url(), map[string]string{c.pkg: "^1.0"})
			if !ok || installed(t, dir, c.pkg, c.file) == "" {
				t.Fatalf("warn mode did not install %s:\n%s", c.pkg, out)
			}
			wantAll(t, out, c.want...)
		})
	}
}

func TestComposerBreakGlassOff(t *testing.T) {
	s := newComposerScenario(t)
	proxy := s.w.serve(s.reg.url(), "--break-glass=false")
	_, out, ok := composerRun(t, proxy.url(), map[string]string{"glass/pkg": "^1.0"})
	if ok {
		t.Fatalf("glass/pkg installed with break-glass refused:\n%s", out)
	}
	wantAll(t, out, "glass/pkg")
	// A vendor that never needed the core key is unaffected.
	if _, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/good": "^1.0"}); !ok {
		t.Fatalf("acme/good did not install:\n%s", out)
	}
}

func TestComposerUnsignedDeny(t *testing.T) {
	s := newComposerScenario(t)
	proxy := s.w.serve(s.reg.url(), "--unsigned", "deny")
	_, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.0"})
	if ok {
		t.Fatalf("unsigned free/pkg installed with --unsigned deny:\n%s", out)
	}
	wantAll(t, out, "free/pkg")
}

// TestComposerEnvOnly configures sigil serve through SIGIL_* variables
// alone, as a CI runner would.
func TestComposerEnvOnly(t *testing.T) {
	s := newComposerScenario(t)
	addr := freeAddr(t)
	env := []string{
		"SIGIL_LISTEN=" + addr,
		"SIGIL_CACHE_DIR=" + t.TempDir(),
		"SIGIL_MODE=enforce",
		"SIGIL_LOG=" + s.w.log.url(),
		"SIGIL_LOG_KEY=" + s.w.logKey,
		"SIGIL_CORE_KEYS=composer=" + s.w.core,
		"SIGIL_COMPOSER_UPSTREAM=" + s.reg.url(),
		"SIGIL_UNSIGNED=deny",
	}
	proxy := startDaemon(t, addr, "/-/healthz", env, "serve")
	if dir, out, ok := composerRun(t, proxy.url(), map[string]string{"acme/good": "^1.0"}); !ok || installed(t, dir, "acme/good", "src/Good.php") == "" {
		t.Fatalf("acme/good did not install:\n%s", out)
	}
	if _, out, ok := composerRun(t, proxy.url(), map[string]string{"free/pkg": "^1.0"}); ok {
		t.Fatalf("SIGIL_UNSIGNED=deny was not applied:\n%s", out)
	}
}
