package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// Environment of the child process of TestKill9.
const (
	childDirEnv  = "SIGIL_TLOG_TEST_CHILD_DIR"
	childKeyEnv  = "SIGIL_TLOG_TEST_CHILD_KEY_FILE"
	childCoreEnv = "SIGIL_TLOG_TEST_CHILD_CORE_KEY"
)

// TestKillChild is not a test: it is the log server that TestKill9 runs
// as a child process (the test binary re-executed) and kills.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("helper process of TestKill9")
	}
	skey, err := os.ReadFile(os.Getenv(childKeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Open(context.Background(), Config{
		Dir:                dir,
		Key:                strings.TrimSpace(string(skey)),
		CoreKeys:           []CoreKey{{Key: os.Getenv(childCoreEnv)}},
		CheckpointInterval: 100 * time.Millisecond,
		Logger:             slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	t.Fatal(http.Serve(ln, srv.Handler())) // until killed
}

// child is a running TestKillChild process.
type child struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startChild(t *testing.T, dir, keyFile, coreKey string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childKeyEnv+"="+keyFile, childCoreEnv+"="+coreKey)
	c := &child{cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("child stderr:\n%s", c.stderr)
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		c.url = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("child did not start; stderr:\n%s", c.stderr)
	}
	return c
}

// kill9 kills the child with SIGKILL: no deferred function, no shutdown.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

func postNote(url string, msg []byte) (tlog.AddResponse, int, error) {
	resp, err := http.Post(url+tlog.AddPath, "text/plain", bytes.NewReader(msg))
	if err != nil {
		return tlog.AddResponse{}, 0, err
	}
	defer resp.Body.Close()
	var r tlog.AddResponse
	if resp.StatusCode != http.StatusOK {
		return r, resp.StatusCode, nil
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r, resp.StatusCode, err
}

// TestKill9 kills the log server with SIGKILL while adds are under way,
// several times, and checks after each restart that every add that was
// acknowledged is still in the log at the index it was given, that the
// index was caught up, and that the log goes on admitting.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir := t.TempDir()
	logKey, core, vendor := newKey(t, "log.example/kill"), newKey(t, "core"), newKey(t, "acme")
	keyFile := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(keyFile, []byte(logKey.skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	type ack struct {
		idx uint64
		msg []byte
	}
	var (
		mu      sync.Mutex
		acked   = map[string]ack{} // version -> acknowledged add
		counter atomic.Int64
	)
	caughtUp := 0
	for round := range 3 {
		c := startChild(t, dir, keyFile, core.vkey)
		if round > 0 && strings.Contains(c.stderr.String(), "indexing log entries") {
			caughtUp++
		}
		if round == 0 {
			if _, status, err := postNote(c.url, keyEvent(t, release.Composer, "acme", release.ActionAdd, vendor.vkey, core.signer)); err != nil || status != http.StatusOK {
				t.Fatalf("adding the vendor key: %d %v", status, err)
			}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					v := "v0.0." + strconv.FormatInt(counter.Add(1), 10)
					msg := statement(t, release.Composer, "acme/foo", v, byte(len(v)), vendor.signer)
					r, status, err := postNote(c.url, msg)
					if err != nil || status != http.StatusOK {
						// The server is being killed: this add was not
						// acknowledged, so the log owes it nothing.
						continue
					}
					mu.Lock()
					acked[v] = ack{r.Index, msg}
					mu.Unlock()
				}
			})
		}
		// Kill at a moment that varies from round to round, mid-traffic.
		time.Sleep(time.Duration(700+400*round) * time.Millisecond)
		c.kill9(t)
		close(stop)
		wg.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 10 {
		t.Fatalf("only %d adds were acknowledged; the test proves little", len(acked))
	}

	c := startChild(t, dir, keyFile, core.vkey)
	resp, err := http.Get(c.url + tlog.LookupPath + "composer/acme/foo")
	if err != nil {
		t.Fatal(err)
	}
	var lk tlog.LookupResponse
	if err := json.NewDecoder(resp.Body).Decode(&lk); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	verifyLookup(t, &lk, mustNoteVerifier(t, logKey.vkey))
	byIdx := map[uint64]string{}
	versions := map[string]bool{}
	for _, e := range lk.Entries {
		byIdx[e.Index] = e.Note
		text, _ := noteText([]byte(e.Note))
		if st, err := release.ParseStatement(text); err == nil {
			if versions[st.Version] {
				t.Errorf("version %s logged twice", st.Version)
			}
			versions[st.Version] = true
		}
	}
	for v, a := range acked {
		if got, ok := byIdx[a.idx]; !ok || got != string(a.msg) {
			t.Errorf("acknowledged %s at index %d is missing from the lookup after kill -9", v, a.idx)
		}
	}
	if strings.Contains(c.stderr.String(), "indexing log entries") {
		caughtUp++
	}
	t.Logf("%d acknowledged adds, %d statements in the log after 3 kills; the index was caught up from the log on %d of 3 restarts",
		len(acked), len(versions), caughtUp)

	// The log goes on: re-adding gives the same index, a new version is
	// admitted after everything else.
	for v, a := range acked {
		r, status, err := postNote(c.url, a.msg)
		if err != nil || status != http.StatusOK || r.Index != a.idx || !r.Existing {
			t.Errorf("re-adding %s: %+v %d %v", v, r, status, err)
		}
		break
	}
	last := statement(t, release.Composer, "acme/foo", "v9.9.9", 1, vendor.signer)
	r, status, err := postNote(c.url, last)
	if err != nil || status != http.StatusOK || r.Index < uint64(len(lk.Entries)) {
		t.Fatalf("new add after restart: %+v %d %v; want an index from %d on", r, status, err, len(lk.Entries))
	}
	resp, err = http.Get(c.url + tlog.LookupPath + "composer/acme/foo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&lk); err != nil {
		t.Fatal(err)
	}
	if e := lk.Entries[len(lk.Entries)-1]; e.Index != r.Index || e.Note != string(last) {
		t.Errorf("last entry after restart is %d; want the new add at %d", e.Index, r.Index)
	}
}
