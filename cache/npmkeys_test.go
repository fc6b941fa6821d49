package cache

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
)

func TestPinNPMKeys(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openDisk(t, dir)
	const reg = "https://registry.example.test"

	if got, err := s.PinNPMKeys(ctx, reg, nil); err != nil || len(got) != 0 {
		t.Fatalf("read before any pin = %v, %v", got, err)
	}
	first := map[string]string{"SHA256:a": "key-a", "SHA256:b": "key-b"}
	if got, err := s.PinNPMKeys(ctx, reg, first); err != nil || !maps.Equal(got, first) {
		t.Fatalf("first pin = %v, %v", got, err)
	}
	// A changed key stays pinned as first seen; a missing one stays; a
	// new one is added.
	later := map[string]string{"SHA256:a": "other-key", "SHA256:c": "key-c"}
	want := map[string]string{"SHA256:a": "key-a", "SHA256:b": "key-b", "SHA256:c": "key-c"}
	if got, err := s.PinNPMKeys(ctx, reg, later); err != nil || !maps.Equal(got, want) {
		t.Fatalf("second pin = %v, %v; want %v", got, err, want)
	}
	// Registries keep apart.
	if got, err := s.PinNPMKeys(ctx, reg+"/other", nil); err != nil || len(got) != 0 {
		t.Fatalf("another registry = %v, %v", got, err)
	}

	// Pins survive a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir)
	defer s.Close()
	if got, err := s.PinNPMKeys(ctx, reg, nil); err != nil || !maps.Equal(got, want) {
		t.Fatalf("after reopening = %v, %v; want %v", got, err, want)
	}
}

func TestPinNPMKeysLimits(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	const reg = "https://registry.example.test"
	for _, bad := range []map[string]string{
		{"": "key"},
		{"id": ""},
		{"id": strings.Repeat("k", maxNameLen+1)},
	} {
		if _, err := s.PinNPMKeys(ctx, reg, bad); err == nil {
			t.Errorf("PinNPMKeys(%.40v) succeeded", bad)
		}
	}
	if _, err := s.PinNPMKeys(ctx, "", nil); err == nil {
		t.Error("empty registry accepted")
	}
	many := map[string]string{}
	for i := range MaxNPMKeys + 1 {
		many[fmt.Sprint("id", i)] = "key"
	}
	if _, err := s.PinNPMKeys(ctx, reg, many); err == nil {
		t.Errorf("%d keys pinned", len(many))
	}
	if got, err := s.PinNPMKeys(ctx, reg, nil); err != nil || len(got) != 0 {
		t.Errorf("a refused pin left %v, %v", got, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.PinNPMKeys(cctx, reg, nil); err == nil {
		t.Error("a cancelled context succeeded")
	}
}

func TestPinNPMKeysConcurrent(t *testing.T) {
	s := newMemStore(t)
	ctx := t.Context()
	const reg = "https://registry.example.test"
	var wg sync.WaitGroup
	results := make([]map[string]string, 8)
	for i := range results {
		wg.Go(func() {
			got, err := s.PinNPMKeys(ctx, reg, map[string]string{"SHA256:k": fmt.Sprint("key", i)})
			if err != nil {
				t.Error(err)
			}
			results[i] = got
		})
	}
	wg.Wait()
	// Exactly one of the offered keys won, and everyone got it.
	for _, r := range results {
		if !maps.Equal(r, results[0]) || len(r) != 1 {
			t.Fatalf("results disagree: %v", results)
		}
	}
}

func TestNPMKeysEncoding(t *testing.T) {
	m := map[string]string{"b": "2", "a": "1", "": ""}
	got, err := decodeNPMKeys(encodeNPMKeys(m))
	if err != nil || !maps.Equal(got, m) {
		t.Fatalf("round trip = %v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {2}, {npmKeysVersion, 5, 'a'}, {npmKeysVersion, 1, 'a'}, {npmKeysVersion, 1, 'a', 9}} {
		if _, err := decodeNPMKeys(bad); err == nil {
			t.Errorf("decodeNPMKeys(%v) succeeded", bad)
		}
	}
}

func TestResetNPMKeys(t *testing.T) {
	ctx := t.Context()
	s := newMemStore(t)
	const reg = "https://registry.example.test"
	if got, err := s.ResetNPMKeys(ctx); err != nil || len(got) != 0 {
		t.Fatalf("reset of nothing = %v, %v", got, err)
	}
	a := map[string]string{"SHA256:a": "key-a"}
	b := map[string]string{"SHA256:b": "key-b", "SHA256:c": "key-c"}
	if _, err := s.PinNPMKeys(ctx, reg+"/z", a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PinNPMKeys(ctx, reg, b); err != nil {
		t.Fatal(err)
	}
	// A package's first-seen pin is another kind of pin: it stays.
	if _, _, err := s.PinTree(ctx, "npm", "foo", "1.0.0", "tree-1"); err != nil {
		t.Fatal(err)
	}

	got, err := s.ResetNPMKeys(ctx)
	if err != nil || len(got) != 2 || got[0].Registry != reg || !maps.Equal(got[0].Keys, b) ||
		got[1].Registry != reg+"/z" || !maps.Equal(got[1].Keys, a) {
		t.Fatalf("reset = %+v, %v", got, err)
	}
	for _, r := range []string{reg, reg + "/z"} {
		if pinned, err := s.PinNPMKeys(ctx, r, nil); err != nil || len(pinned) != 0 {
			t.Errorf("%s after reset = %v, %v", r, pinned, err)
		}
	}
	// The next keys are pinned afresh, even with other material.
	rotated := map[string]string{"SHA256:b": "new-key-b"}
	if pinned, err := s.PinNPMKeys(ctx, reg, rotated); err != nil || !maps.Equal(pinned, rotated) {
		t.Errorf("pin after reset = %v, %v", pinned, err)
	}
	if tree, _, err := s.PinnedTree(ctx, "npm", "foo", "1.0.0"); err != nil || tree != "tree-1" {
		t.Errorf("package pin after reset = %q, %v", tree, err)
	}
}
