package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/release"
)

func TestLogEvidenceAndReset(t *testing.T) {
	dir := t.TempDir()
	_, vkey, err := release.GenerateKey(rand.Reader, "log.example.test")
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := store.Log("log.example.test")
	ctx := context.Background()
	st.SwapCheckpoint(ctx, nil, []byte("log.example.test\n5\nroot\n"))
	st.RecordSecurityError(ctx, []byte("SECURITY ERROR\nfork at size 5"))
	store.Close()

	sigil := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"sigil", "log"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := sigil("evidence", "--cache-dir", dir, "--log-key", vkey)
	if code != 1 || !strings.Contains(out, "fork at size 5") || !strings.Contains(errOut, "sigil log reset") {
		t.Fatalf("evidence: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = sigil("reset", "--cache-dir", dir, "--log-key", vkey)
	if code != 0 || !strings.Contains(out, "1 security error(s) archived") {
		t.Fatalf("reset: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = sigil("evidence", "--cache-dir", dir, "--log-key", vkey)
	if code != 0 || !strings.Contains(out, "archived by a reset:\nSECURITY ERROR") {
		t.Fatalf("evidence after reset: exit %d\n%s", code, out)
	}
	if code, _, errOut := sigil("reset", "--cache-dir", dir); code != 2 || !strings.Contains(errOut, "missing --log-key") {
		t.Fatalf("reset without --log-key: exit %d, %s", code, errOut)
	}
}
