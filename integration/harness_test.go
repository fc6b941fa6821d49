package integration

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// sigilBin is the binary under test: $SIGIL_BIN (make test builds it), or
// one built once for this test run.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func sigilBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SIGIL_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sigil-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "sigil")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/sigil")
		cmd.Dir = filepath.Dir(filepath.Dir(file))
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// needClient fails the test when a package manager is missing, or skips it
// where SIGIL_SKIP_E2E=1.
func needClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("SIGIL_SKIP_E2E") == "1" {
		t.Skipf("%s is not installed (SIGIL_SKIP_E2E=1)", name)
	}
	t.Fatalf("%s is not installed: the end-to-end tests need it (make test installs it; SIGIL_SKIP_E2E=1 skips on a developer machine)", name)
	return ""
}

// sigil runs the binary to completion and returns stdout; a non-zero exit
// fails the test with stderr.
func sigil(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := sigilResult(t, dir, nil, args...)
	if err != nil {
		t.Fatalf("sigil %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func sigilResult(t testing.TB, dir string, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(sigilBin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// cleanEnv is the test's environment without SIGIL_* variables, so that a
// developer's own settings do not leak into what is tested.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SIGIL_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// daemon is a sigil process serving on addr until the test ends.
type daemon struct {
	addr string
	cmd  *exec.Cmd
	logs *syncBuffer
	stop func() // ends the process (interrupt, then kill) and waits; idempotent
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startDaemon starts `sigil args...` with env, and waits until healthPath
// answers 200 on addr.
func startDaemon(t testing.TB, addr, healthPath string, env []string, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, sigilBin(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	// exited is closed when the process is gone; waitErr is then set.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-exited
		})
	}
	d := &daemon{addr: addr, cmd: cmd, logs: logs, stop: stop}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("sigil %s output:\n%s", args[0], logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("sigil %s exited before it served: %v\n%s", strings.Join(args, " "), waitErr, logs.String())
		default:
		}
		resp, err := http.Get("http://" + addr + healthPath)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sigil %s did not answer %s within 30s:\n%s", args[0], healthPath, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) url() string { return "http://" + d.addr }

// zipTree writes files (path → content) under a top-level directory, as a
// GitHub zipball has them.
func zipTree(t testing.TB, top string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		w, err := zw.Create(top + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
