package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testKey struct {
	skey, vkey string
	signer     note.Signer
}

func newTestKey(t *testing.T, name string) testKey {
	t.Helper()
	skey, vkey, err := release.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := release.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{skey, vkey, s}
}

// writeNote signs text with signer into dir/name.
func writeNote(t *testing.T, dir, name string, text []byte, signer note.Signer) string {
	t.Helper()
	msg, err := release.Sign(text, signer)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, msg, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustText(t *testing.T, text []byte, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func statementText(t *testing.T, pkg, version string, salt byte) []byte {
	st := &release.Statement{
		Ecosystem: release.Composer,
		Package:   pkg,
		Version:   version,
		Tree:      "h1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{salt}, 32)),
		Manifest:  "sha256:" + strings.Repeat("0", 64),
	}
	text, err := st.Text()
	return mustText(t, text, err)
}

// startLogServe runs `sigil log serve` in-process and returns its address
// and a channel with its exit status.
func startLogServe(t *testing.T, stderr *syncBuffer, args ...string) (string, chan int) {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		done <- run(append([]string{"sigil", "log", "serve", "--listen", "127.0.0.1:0", "--checkpoint-interval", "100ms"}, args...), &syncBuffer{}, stderr)
	}()
	re := regexp.MustCompile(`msg="release log serving" listen=(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], done
		}
		select {
		case code := <-done:
			t.Fatalf("log serve exited with %d:\n%s", code, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("log serve did not start:\n%s", stderr)
	return "", nil
}

// stopLogServe sends SIGTERM to this process, which the running `log serve`
// has registered for, and returns its exit status.
func stopLogServe(t *testing.T, done chan int) int {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		return code
	case <-time.After(60 * time.Second):
		t.Fatal("log serve did not stop on SIGTERM")
	}
	return -1
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"sigil"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestLogServeAndAdd runs `sigil log serve` in-process, with some flags
// from the environment, submits notes with `sigil log add`, and stops the
// server with SIGTERM; a restart on the same directory keeps the log.
func TestLogServeAndAdd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the server with SIGTERM")
	}
	dir := t.TempDir()
	logKey, core, vendor := newTestKey(t, "log.example/cli"), newTestKey(t, "core"), newTestKey(t, "acme")
	keyFile := filepath.Join(dir, "log.key")
	if err := os.WriteFile(keyFile, []byte(logKey.skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	evText, err := (&release.KeyEvent{Ecosystem: release.Composer, Namespace: "acme", Action: release.ActionAdd, Key: vendor.vkey}).Text()
	ev := writeNote(t, dir, "acme.event", mustText(t, evText, err), core.signer)
	st := writeNote(t, dir, "foo-1.0.0.note", statementText(t, "acme/foo", "1.0.0", 1), vendor.signer)
	conflict := writeNote(t, dir, "foo-1.0.0-other.note", statementText(t, "acme/foo", "1.0.0", 2), vendor.signer)
	unsigned := writeNote(t, dir, "bar.note", statementText(t, "acme/bar", "1.0.0", 1), newTestKey(t, "mallory").signer)

	t.Setenv("SIGIL_LOG_DIR", filepath.Join(dir, "log"))
	t.Setenv("SIGIL_CORE_KEYS", "npm="+core.vkey+","+"composer="+core.vkey)
	stderr := &syncBuffer{}
	addr, done := startLogServe(t, stderr, "--key", keyFile)
	if !strings.Contains(stderr.String(), "verifier_key="+logKey.vkey) {
		t.Errorf("start-up log does not name the verifier key:\n%s", stderr)
	}
	url := "http://" + addr

	code, out, errOut := runCLI("log", "add", "--log", url, ev, st)
	if code != 0 || out != ev+": index 0\n"+st+": index 1\n" {
		t.Fatalf("log add = %d, %q, %q", code, out, errOut)
	}
	// Again: the same indices, said to be already there. --log from the
	// environment.
	t.Setenv("SIGIL_LOG", url)
	if code, out, _ := runCLI("log", "add", st); code != 0 || out != st+": index 1 (already in the log)\n" {
		t.Errorf("re-add = %d, %q", code, out)
	}
	// A different statement for the same version: exit 1 with the reason;
	// the key event after it waits for the statements before it, and is
	// not submitted.
	code, out, errOut = runCLI("log", "add", conflict, ev, st)
	if code != 1 || out != "" || !strings.Contains(errOut, "sigil: "+conflict+": refused by the log (409): ") ||
		!strings.Contains(errOut, "already logged at index 1") || !strings.Contains(errOut, "hint: ") ||
		!strings.Contains(errOut, "not submitted") {
		t.Errorf("conflicting add = %d, %q, %q", code, out, errOut)
	}
	code, _, errOut = runCLI("log", "add", unsigned)
	if code != 1 || !strings.Contains(errOut, "(403)") || strings.Count(errOut, "\n") != 2 {
		t.Errorf("unauthorized add = %d, %q", code, errOut)
	}

	if code := stopLogServe(t, done); code != 0 {
		t.Fatalf("log serve exited with %d after SIGTERM:\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "release log shutting down") {
		t.Errorf("no shutdown message:\n%s", stderr)
	}

	// Restart on the same directory: the log is still there.
	stderr = &syncBuffer{}
	addr, done = startLogServe(t, stderr, "--key", keyFile)
	if code, out, errOut := runCLI("log", "add", "--log", "http://"+addr, ev, st); code != 0 ||
		out != ev+": index 0 (already in the log)\n"+st+": index 1 (already in the log)\n" {
		t.Errorf("add after restart = %d, %q, %q", code, out, errOut)
	}
	if code := stopLogServe(t, done); code != 0 {
		t.Fatalf("log serve exited with %d after SIGTERM:\n%s", code, stderr)
	}
}

func TestLogUsage(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, "log.example/x")
	keyFile, pubFile := filepath.Join(dir, "log.key"), filepath.Join(dir, "log.pub")
	if err := os.WriteFile(keyFile, []byte(k.skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, []byte(k.vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	note := writeNote(t, dir, "x.note", statementText(t, "acme/foo", "1.0.0", 1), k.signer)
	logDir := filepath.Join(dir, "log")
	serve := []string{"log", "serve", "--listen", "127.0.0.1:0", "--dir", logDir}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"log", "serve", "--key", keyFile}, 2, "missing --dir"},
		{append(serve, "--key", filepath.Join(dir, "none.key")), 1, "reading key"},
		{append(serve, "--key", pubFile), 2, "verifier (public) key"},
		{append(serve, "--key", keyFile, "--core-key", "pypi="+k.vkey), 2, `unknown ecosystem "pypi"`},
		{append(serve, "--key", keyFile, "--core-key", "core+1234"), 2, "--core-key"},
		{append(serve, "--key", keyFile, "--witness", k.vkey), 2, "want VKEY=URL"},
		{append(serve, "--key", keyFile, "--witness-threshold", "1"), 2, "--witness-threshold 1"},
		{append(serve, "--key", keyFile, "--checkpoint-interval", "10ms"), 2, "at least 100ms"},
		{append(serve, "--key", keyFile, "extra"), 2, "takes no arguments"},
		{[]string{"log", "add", note}, 2, "missing --log"},
		{[]string{"log", "add", "--log", "http://127.0.0.1:1"}, 2, "at least one FILE"},
		{[]string{"log", "add", "--log", "ftp://x", note}, 2, "http or https"},
		{[]string{"log", "add", "--log", "http://127.0.0.1:1", note}, 1, "is the release log running"},
		{[]string{"log", "add", "--log", "http://127.0.0.1:1", filepath.Join(dir, "none")}, 1, "no such file"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || !strings.HasPrefix(errOut, "sigil: ") {
			t.Errorf("sigil %s = %d, %q; want %d and %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
		if strings.Contains(errOut, k.skey[strings.LastIndex(k.skey, "+"):]) {
			t.Errorf("sigil %s printed a secret: %q", strings.Join(tc.args, " "), errOut)
		}
	}
}
