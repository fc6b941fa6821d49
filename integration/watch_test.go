package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLogWatch(t *testing.T) {
	w := newWorld(t)
	acme := w.key("acme-release")
	w.event("add", w.coreKey(), "acme", acme) // onboarding: the first key comes from the core
	spare := w.key("acme-spare")
	w.event("add", acme, "acme", spare) // the vendor's own doing
	other := w.key("other-release")
	w.event("add", w.coreKey(), "other", other) // not watched

	state := filepath.Join(t.TempDir(), "watch.json")
	watch := func() (string, string, error) {
		return sigilResult(t, w.dir, nil, "log", "watch", "--log", w.log.url(), "--log-key", w.logKey,
			"--namespace", "composer:acme", "--state", state)
	}
	out, errOut, err := watch()
	if err != nil {
		t.Fatalf("watch of a namespace that only changed itself: %v\n%s%s", err, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "0 key composer acme add acme-release+") ||
		!strings.Contains(lines[0], "first keys of the namespace") || !strings.HasSuffix(lines[1], ": own") {
		t.Fatalf("watch printed:\n%s", out)
	}
	if strings.Contains(out, "other") {
		t.Errorf("watch printed an unwatched namespace:\n%s", out)
	}

	// The core adds a key over the vendor's: break-glass.
	intruder := w.key("intruder")
	w.event("add", w.coreKey(), "acme", intruder)
	out, errOut, err = watch()
	if err == nil {
		t.Fatalf("watch exited 0 on a core-signed key add:\n%s", out)
	}
	if !strings.Contains(out, "key composer acme add intruder+") || !strings.Contains(out, "by composer-core+") ||
		!strings.Contains(out, "NOT SIGNED BY THE NAMESPACE'S OWN KEYS") || strings.Contains(out, "acme-spare") {
		t.Errorf("watch printed (only what is new expected):\n%s", out)
	}
	if !strings.Contains(errOut, "not signed by the namespace's own keys") {
		t.Errorf("stderr: %s", errOut)
	}
	// Reported once: the next run starts after it.
	if out, errOut, err := watch(); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("second run: %v %q %q", err, out, errOut)
	}
}
