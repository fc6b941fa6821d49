package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/cache"
)

func TestCacheResetRegistryKeys(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const reg = "https://registry.example.test"
	store, err := cache.Open(dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PinNPMKeys(ctx, reg, map[string]string{"SHA256:b": "key-b", "SHA256:a": "key-a"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.PinTree(ctx, "npm", "foo", "1.0.0", "tree-1"); err != nil {
		t.Fatal(err)
	}

	sigil := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"sigil", "cache", "reset-registry-keys"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	// While sigil serve holds the cache (here: this store), nothing is
	// reset and the user is told why.
	code, out, errOut := sigil("--cache-dir", dir)
	if code != 1 || !strings.Contains(errOut, "is in use: sigil serve (or another sigil) is running on it") ||
		!strings.Contains(errOut, "hint: stop sigil serve first") {
		t.Fatalf("with the cache open: exit %d\n%s\n%s", code, out, errOut)
	}
	store.Close()

	code, out, errOut = sigil("--cache-dir", dir)
	if code != 0 || !strings.Contains(out, "reset: forgot 2 pinned signing key(s) of npm registry "+reg+": SHA256:a, SHA256:b\n") {
		t.Fatalf("reset: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = sigil("--cache-dir", dir)
	if code != 0 || !strings.Contains(out, "nothing to reset") {
		t.Fatalf("second reset: exit %d\n%s", code, out)
	}

	// Only the registry's keys were forgotten.
	store, err = cache.Open(dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if pinned, err := store.PinNPMKeys(ctx, reg, nil); err != nil || len(pinned) != 0 {
		t.Errorf("keys after reset: %v, %v", pinned, err)
	}
	if tree, _, err := store.PinnedTree(ctx, "npm", "foo", "1.0.0"); err != nil || tree != "tree-1" {
		t.Errorf("package pin after reset: %q, %v", tree, err)
	}

	if code, _, errOut := sigil("--cache-dir", dir+"/missing"); code != 1 || !strings.Contains(errOut, "give the --cache-dir sigil serve uses") {
		t.Errorf("missing dir: exit %d, %s", code, errOut)
	}
	if code, _, errOut := sigil("--cache-dir", dir, "extra"); code != 2 || !strings.Contains(errOut, "no arguments expected") {
		t.Errorf("extra argument: exit %d, %s", code, errOut)
	}
}
