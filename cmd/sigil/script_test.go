package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/rand"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog/server"
)

// TestMain lets the scripts run "sigil" as a real process: testscript
// re-executes this test binary as the command, so the scripts see exactly
// the exit codes and output a user would.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sigil": func() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar: the command-line contract as a
// user meets it.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkzip":    mkzip,
			"mktgz":    mktgz,
			"startlog": startLog,
		},
		Setup: func(env *testscript.Env) error {
			// git needs an identity for the --git scripts, and must not
			// read the machine's own configuration.
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("GIT_AUTHOR_NAME", "Vendor")
			env.Setenv("GIT_AUTHOR_EMAIL", "vendor@example.invalid")
			env.Setenv("GIT_COMMITTER_NAME", "Vendor")
			env.Setenv("GIT_COMMITTER_EMAIL", "vendor@example.invalid")
			return nil
		},
	})
}

// startlog CORE_PUB_FILE starts a release log in this process, with a
// fresh log key and the given core key for every ecosystem, and sets $LOG
// to its URL and $LOGKEY to its verifier key. It stops with the script.
func startLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: startlog CORE_PUB_FILE")
	}
	skey, _, err := release.GenerateKey(rand.Reader, "log.example")
	ts.Check(err)
	core, err := server.ParseCoreKey(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	url, vkey, stop, err := serveTestLog(ts.MkAbs("log"), skey, core, 100*time.Millisecond)
	ts.Check(err)
	ts.Defer(stop)
	ts.Setenv("LOG", url)
	ts.Setenv("LOGKEY", vkey)
}

// serveTestLog runs a release log in this process on a loopback port and
// returns its URL, its verifier key and how to stop it.
func serveTestLog(dir, skey string, core server.CoreKey, interval time.Duration) (url, vkey string, stop func(), err error) {
	srv, err := server.Open(context.Background(), server.Config{
		Dir:                dir,
		Key:                skey,
		CoreKeys:           []server.CoreKey{core},
		CheckpointInterval: interval,
		Logger:             slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close(context.Background())
		return "", "", nil, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	stop = func() {
		hs.Close()
		srv.Close(context.Background())
	}
	return "http://" + ln.Addr().String(), srv.VerifierKey(), stop, nil
}

// mkzip OUT DIR PREFIX [deflate|store] [reverse] zips the files under DIR,
// each named PREFIX/relative-path.
func mkzip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: mkzip OUT DIR PREFIX [deflate|store] [reverse]")
	}
	method, reverse := zip.Deflate, false
	for _, a := range args[3:] {
		switch a {
		case "store":
			method = zip.Store
		case "reverse":
			reverse = true
		}
	}
	out, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	zw := zip.NewWriter(out)
	for _, rel := range files(ts, args[1], reverse) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: args[2] + "/" + rel, Method: method})
		ts.Check(err)
		data, err := os.ReadFile(filepath.Join(ts.MkAbs(args[1]), rel))
		ts.Check(err)
		_, err = w.Write(data)
		ts.Check(err)
	}
	ts.Check(zw.Close())
	ts.Check(out.Close())
}

// mktgz OUT DIR PREFIX makes an npm-style tarball.
func mktgz(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: mktgz OUT DIR PREFIX")
	}
	out, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	for _, rel := range files(ts, args[1], false) {
		data, err := os.ReadFile(filepath.Join(ts.MkAbs(args[1]), rel))
		ts.Check(err)
		ts.Check(tw.WriteHeader(&tar.Header{Name: args[2] + "/" + rel, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err = tw.Write(data)
		ts.Check(err)
	}
	ts.Check(tw.Close())
	ts.Check(gz.Close())
	ts.Check(out.Close())
}

func files(ts *testscript.TestScript, dir string, reverse bool) []string {
	root := ts.MkAbs(dir)
	var names []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	ts.Check(err)
	sort.Strings(names)
	if reverse {
		sort.Sort(sort.Reverse(sort.StringSlice(names)))
	}
	if len(names) == 0 {
		ts.Fatalf("no files under %s", dir)
	}
	return names
}
