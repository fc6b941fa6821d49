package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

func TestMain(m *testing.M) {
	// Tessera logs through klog's global logger; keep test output to what
	// our own slog logger (routed to t.Log) says.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	code := m.Run()
	benchCleanup()
	os.Exit(code)
}

// testLogger returns a logger that writes to t.Log until the test ends.
func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// key is a fresh Ed25519 key pair.
type key struct {
	skey, vkey string
	signer     note.Signer
}

func newKey(t testing.TB, name string) key {
	t.Helper()
	skey, vkey, err := release.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := release.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return key{skey: skey, vkey: vkey, signer: s}
}

// testLog is a log server on a fresh directory with fresh keys, served on
// a loopback httptest server whose URL stays the same across reopen.
type testLog struct {
	t       testing.TB
	cfg     Config
	srv     *Server
	http    *httptest.Server
	handler atomic.Pointer[http.Handler]
	core    key
	logK    key
}

// newTestLog opens a log with one core key for every ecosystem. mod may
// change the config before the log opens.
func newTestLog(t testing.TB, mod func(*Config)) *testLog {
	t.Helper()
	tl := &testLog{t: t, core: newKey(t, "core"), logK: newKey(t, "log.example/test")}
	tl.cfg = Config{
		Dir:                t.TempDir(),
		Key:                tl.logK.skey,
		CoreKeys:           []CoreKey{{Key: tl.core.vkey}},
		CheckpointInterval: 100 * time.Millisecond,
		AddTimeout:         10 * time.Second,
		Logger:             testLogger(t),
	}
	if mod != nil {
		mod(&tl.cfg)
	}
	tl.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := tl.handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "log closed", http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() {
		tl.close()
		tl.http.Close()
	})
	tl.open()
	return tl
}

// open (re)opens the server on tl.cfg and serves it.
func (tl *testLog) open() {
	tl.t.Helper()
	srv, err := Open(context.Background(), tl.cfg)
	if err != nil {
		tl.t.Fatalf("Open: %v", err)
	}
	tl.srv = srv
	h := srv.Handler()
	tl.handler.Store(&h)
}

// close closes the log (the HTTP server answers 503 until it reopens); it
// is safe to call twice.
func (tl *testLog) close() {
	tl.handler.Store(nil)
	if tl.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tl.srv.Close(ctx); err != nil {
			tl.t.Errorf("Close: %v", err)
		}
		tl.srv = nil
	}
}

func (tl *testLog) reopen() {
	tl.t.Helper()
	tl.close()
	tl.open()
}

// post submits a note over HTTP and returns the status and body.
func (tl *testLog) post(msg []byte) (int, string) {
	tl.t.Helper()
	resp, err := http.Post(tl.http.URL+tlog.AddPath, "text/plain", bytes.NewReader(msg))
	if err != nil {
		tl.t.Fatalf("POST /add: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// add submits a note over HTTP and fails the test unless it is admitted.
func (tl *testLog) add(msg []byte) tlog.AddResponse {
	tl.t.Helper()
	status, body := tl.post(msg)
	if status != http.StatusOK {
		tl.t.Fatalf("POST /add: %d %s", status, body)
	}
	var r tlog.AddResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		tl.t.Fatalf("POST /add: %v in %q", err, body)
	}
	return r
}

// refused submits a note and checks that it is refused with status and a
// reason that contains want.
func (tl *testLog) refused(msg []byte, status int, want string) string {
	tl.t.Helper()
	got, body := tl.post(msg)
	if got != status || !strings.Contains(body, want) {
		tl.t.Fatalf("POST /add = %d %q; want %d and a reason containing %q", got, body, status, want)
	}
	if strings.Count(strings.TrimSuffix(body, "\n"), "\n") != 0 {
		tl.t.Errorf("reason is not one line: %q", body)
	}
	return body
}

func (tl *testLog) lookup(eco, pkg string) *tlog.LookupResponse {
	tl.t.Helper()
	resp, err := http.Get(tl.http.URL + tlog.LookupPath + eco + "/" + pkg)
	if err != nil {
		tl.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tl.t.Fatalf("lookup %s/%s: %d %s", eco, pkg, resp.StatusCode, b)
	}
	var r tlog.LookupResponse
	if err := json.Unmarshal(b, &r); err != nil {
		tl.t.Fatal(err)
	}
	return &r
}

// entries returns a lookup's entries as Evaluate takes them.
func (tl *testLog) entries(eco, pkg string) []tlog.Entry {
	var out []tlog.Entry
	for _, e := range tl.lookup(eco, pkg).Entries {
		out = append(out, tlog.Entry{Index: e.Index, Note: []byte(e.Note)})
	}
	return out
}

// keyEvent returns a key event signed by signers.
func keyEvent(t testing.TB, eco, ns string, action release.Action, vkey string, signers ...note.Signer) []byte {
	t.Helper()
	ev := &release.KeyEvent{Ecosystem: eco, Namespace: ns, Action: action, Key: vkey}
	text, err := ev.Text()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := release.Sign(text, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// statement returns a release statement signed by signers; salt varies its
// content (the tree hash).
func statement(t testing.TB, eco, pkg, version string, salt byte, signers ...note.Signer) []byte {
	t.Helper()
	st := &release.Statement{
		Ecosystem: eco,
		Package:   pkg,
		Version:   version,
		Tree:      "h1:" + b64(bytes.Repeat([]byte{salt}, 32)),
		Manifest:  "sha256:" + strings.Repeat(fmt.Sprintf("%02x", salt), 32),
	}
	text, err := st.Text()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := release.Sign(text, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
