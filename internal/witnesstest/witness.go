// Package witnesstest is a minimal, in-memory C2SP tlog-witness for tests:
// it answers POST /add-checkpoint, checks the log's signature and the
// consistency proof from the checkpoint it cosigned last, and returns a
// cosignature/v1 (C2SP tlog-cosignature) with a fresh Ed25519 key.
//
// It keeps its state in memory only and never touches the network beyond
// the httptest server it is given. It is meant for tests of the log server
// and of the verifying client; it is not a production witness.
package witnesstest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	f_log "github.com/transparency-dev/formats/log"
	f_note "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// maxBody bounds a request: a checkpoint with a few signatures and at most
// 63 proof lines fits easily.
const maxBody = 64 << 10

// Witness is an in-memory tlog-witness. Its zero value is not usable; use
// New or Start. It is safe for concurrent use.
type Witness struct {
	name     string
	signer   *f_note.Signer
	vkey     string // cosignature/v1 verifier key (type 0x04)
	plainKey string // the same key as a plain Ed25519 verifier key (type 0x01)

	mu       sync.Mutex
	logs     map[string]note.Verifier // origin -> log key
	state    map[string]treeHead      // origin -> latest cosigned
	failing  int                      // HTTP status to answer with, 0 = work
	requests int
	cosigned int

	// URL is the witness's submission prefix once started by Start.
	URL string
}

type treeHead struct {
	size uint64
	root []byte
}

// New returns a witness named name with a fresh key that cosigns
// checkpoints of the given logs. Each log is given by its verifier key; its
// origin is taken to be the key's name, or set it with AddLog.
func New(name string, logKeys ...string) (*Witness, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, fmt.Errorf("witnesstest: generating key: %w", err)
	}
	signer, err := f_note.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witnesstest: %w", err)
	}
	cosigKey, err := f_note.VKeyToCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("witnesstest: %w", err)
	}
	w := &Witness{
		name:     name,
		signer:   signer,
		vkey:     cosigKey,
		plainKey: vkey,
		logs:     map[string]note.Verifier{},
		state:    map[string]treeHead{},
	}
	for _, k := range logKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("witnesstest: log key %q: %w", k, err)
		}
		w.logs[v.Name()] = v
	}
	return w, nil
}

// Start creates a witness like New and serves it on a loopback httptest
// server that is closed when the test ends. URL is set.
func Start(tb testing.TB, name string, logKeys ...string) *Witness {
	tb.Helper()
	w, err := New(name, logKeys...)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(w)
	tb.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// AddLog makes the witness accept checkpoints with the given origin,
// signed by the given log verifier key.
func (w *Witness) AddLog(origin, logKey string) error {
	v, err := note.NewVerifier(logKey)
	if err != nil {
		return fmt.Errorf("witnesstest: log key: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.logs[origin] = v
	return nil
}

// VerifierKey returns the witness's cosignature/v1 verifier key (type 0x04),
// the form a log's --witness flag and a client's witness list take.
func (w *Witness) VerifierKey() string { return w.vkey }

// Ed25519VerifierKey returns the same public key as a plain Ed25519 verifier
// key (type 0x01); cosignature verifiers accept it too.
func (w *Witness) Ed25519VerifierKey() string { return w.plainKey }

// Name returns the witness's key name.
func (w *Witness) Name() string { return w.name }

// SetFailing makes every later request fail with the given HTTP status
// (for example 503) until it is called with 0.
func (w *Witness) SetFailing(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failing = status
}

// Requests returns how many add-checkpoint requests arrived, and how many
// of them were cosigned.
func (w *Witness) Requests() (received, cosigned int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.requests, w.cosigned
}

// Latest returns the size of the latest checkpoint cosigned for origin.
func (w *Witness) Latest(origin string) (size uint64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	th, ok := w.state[origin]
	return th.size, ok
}

// ServeHTTP implements POST /add-checkpoint of C2SP tlog-witness.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/add-checkpoint" {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(rw, "request body unreadable or too large", http.StatusBadRequest)
		return
	}
	status, resp, ctype := w.addCheckpoint(body)
	if ctype == "" {
		ctype = "text/plain; charset=utf-8"
	}
	rw.Header().Set("Content-Type", ctype)
	rw.WriteHeader(status)
	_, _ = rw.Write(resp)
}

// addCheckpoint does the checks of the spec in its order and, if they
// pass, records the checkpoint and cosigns it, all under one lock so that
// two requests cannot roll the recorded size back.
func (w *Witness) addCheckpoint(body []byte) (status int, resp []byte, ctype string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	if w.failing != 0 {
		return w.failing, []byte("witness is failing on purpose\n"), ""
	}

	oldSize, proofHashes, cpRaw, err := parseRequest(body)
	if err != nil {
		return http.StatusBadRequest, []byte(err.Error() + "\n"), ""
	}
	origin, _, _ := strings.Cut(string(cpRaw), "\n")
	v, ok := w.logs[origin]
	if !ok {
		return http.StatusNotFound, []byte("unknown log origin\n"), ""
	}
	n, err := note.Open(cpRaw, note.VerifierList(v))
	if err != nil {
		return http.StatusForbidden, []byte("no signature by a trusted log key\n"), ""
	}
	var cp f_log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return http.StatusBadRequest, []byte("malformed checkpoint\n"), ""
	}
	if oldSize > cp.Size {
		return http.StatusBadRequest, []byte("old size larger than checkpoint size\n"), ""
	}
	prev := w.state[origin]
	if oldSize != prev.size {
		return http.StatusConflict, fmt.Appendf(nil, "%d\n", prev.size), "text/x.tlog.size"
	}
	switch {
	case oldSize == cp.Size:
		if prev.root != nil && !bytes.Equal(prev.root, cp.Hash) {
			return http.StatusConflict, []byte("root hash differs for the same size\n"), ""
		}
	case oldSize == 0:
		if len(proofHashes) != 0 {
			return http.StatusBadRequest, []byte("proof must be empty from size 0\n"), ""
		}
	default:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, cp.Size, proofHashes, prev.root, cp.Hash); err != nil {
			return http.StatusUnprocessableEntity, []byte("consistency proof does not verify\n"), ""
		}
	}

	sig, err := w.signer.Sign([]byte(n.Text))
	if err != nil {
		return http.StatusInternalServerError, []byte("signing failed\n"), ""
	}
	w.state[origin] = treeHead{size: cp.Size, root: cp.Hash}
	w.cosigned++
	var hash [4]byte
	binary.BigEndian.PutUint32(hash[:], w.signer.KeyHash())
	line := fmt.Sprintf("— %s %s\n", w.signer.Name(), base64.StdEncoding.EncodeToString(append(hash[:], sig...)))
	return http.StatusOK, []byte(line), ""
}

// parseRequest splits an add-checkpoint body into the old size, the proof
// hashes and the checkpoint note.
func parseRequest(body []byte) (uint64, [][]byte, []byte, error) {
	br := bufio.NewReader(bytes.NewReader(body))
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, nil, nil, errors.New("missing old size line")
	}
	sizeStr, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "old ")
	if !ok {
		return 0, nil, nil, errors.New("first line is not an old size line")
	}
	oldSize, err := strconv.ParseUint(sizeStr, 10, 64)
	if err != nil || (sizeStr != "0" && strings.HasPrefix(sizeStr, "0")) {
		return 0, nil, nil, errors.New("malformed old size")
	}
	var hashes [][]byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, nil, nil, errors.New("missing empty line before the checkpoint")
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		h, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(h) != 32 {
			return 0, nil, nil, errors.New("malformed proof line")
		}
		if len(hashes) == 63 {
			return 0, nil, nil, errors.New("too many proof lines")
		}
		hashes = append(hashes, h)
	}
	rest, _ := io.ReadAll(br)
	return oldSize, hashes, rest, nil
}
