package tlog

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/singleflight"

	"github.com/sigilproxy/sigil/release"
)

// DefaultMaxCosignatureAge is the age beyond which a witness cosignature no
// longer counts when Config.MaxCosignatureAge is zero. A Tessera log
// republishes its checkpoint every ten minutes by default and witnesses
// cosign each one within seconds, so a day tolerates a long outage of the
// log or its witnesses while still bounding how old a view of the log an
// attacker can replay to this proxy.
const DefaultMaxCosignatureAge = 24 * time.Hour

// DefaultMaxLookupBytes bounds a lookup response when Config.MaxLookupBytes
// is zero. A statement with its proof is about 2 KiB, so this is room for
// some ten thousand entries.
const DefaultMaxLookupBytes = 32 << 20

// sigMemoSize bounds the signature checks a Client remembers. An outcome
// costs about a hundred bytes, so this is some 3 MB, room for the
// statements and key events of every package of a large install.
const sigMemoSize = 1 << 15

// defaultHTTPTimeout bounds one request to the log when Config.HTTPClient is
// nil: a log that hangs must not hang an install.
const defaultHTTPTimeout = 30 * time.Second

// Config configures a Client. Only URL, LogKey and Store are required.
type Config struct {
	// URL is the base URL of the log: the checkpoint is at URL/checkpoint,
	// tiles at URL/tile/..., lookups at URL/lookup/... . http or https.
	URL string

	// LogKey is the log's verifier key (NAME+HASH+BASE64, Ed25519), which
	// must have signed every checkpoint.
	LogKey string

	// Origin is the first line every checkpoint of the log must carry.
	// Default: the name of LogKey, which is how the log server derives it.
	Origin string

	// Witnesses are the verifier keys of the witnesses whose cosignatures
	// count (C2SP tlog-cosignature). A cosignature/v1 key (algorithm 0x04)
	// or a plain Ed25519 note key (0x01), which is read as the
	// cosignature/v1 key of the same Ed25519 key, as the witness ecosystem
	// does. Default: none, and then the log's signature alone is trusted.
	Witnesses []string

	// WitnessThreshold is how many distinct Witnesses must have cosigned a
	// checkpoint. Zero means all of them: a user who lists witnesses and
	// forgets the threshold gets the strictest policy, not none.
	WitnessThreshold int

	// MaxCosignatureAge is the age beyond which a cosignature is stale and
	// does not count; a checkpoint that lacks enough fresh cosignatures is
	// refused as stale. Zero means DefaultMaxCosignatureAge; negative
	// disables the check.
	MaxCosignatureAge time.Duration

	// MaxLookupBytes bounds the body of a lookup response. Zero means
	// DefaultMaxLookupBytes.
	MaxLookupBytes int64

	// HTTPClient makes every request to the log. Default: a client with a
	// 30 second timeout.
	HTTPClient *http.Client

	// Store keeps the latest verified checkpoint and the evidence of
	// security errors across restarts. Required: without it, a restart would
	// forget the history the log must stay consistent with.
	Store CheckpointStore

	// Tiles caches tiles proven to be in the log. Default: none, every
	// consistency proof fetches its tiles again.
	Tiles TileCache

	// Logger receives what the client decides and why. Default: discarded.
	Logger *slog.Logger
}

// Client verifies the release log for the proxy. It is safe for concurrent
// use; concurrent lookups that bring the same new checkpoint share one
// consistency check.
type Client struct {
	base      *url.URL
	http      *http.Client
	store     CheckpointStore
	tiles     TileCache
	log       *slog.Logger
	policy    *checkpointPolicy
	maxLookup int64
	now       func() time.Time
	// sigs remembers the signature checks of logged notes for the
	// evaluation of this client's lookups (Lookup.Evaluate).
	sigs *release.SigMemo

	// refresh shares the consistency check of one checkpoint between the
	// lookups that bring it.
	refresh singleflight.Group
	// halted holds the SecurityError this client found, so that it refuses
	// even when recording it in the store failed.
	halted atomic.Pointer[SecurityError]
}

// NewClient checks cfg and returns a Client. It does no I/O.
func NewClient(cfg Config) (*Client, error) {
	base, err := parseLogURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		return nil, errors.New("tlog: Config.Store is required: the latest checkpoint must survive a restart")
	}
	p, err := newCheckpointPolicy(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      base,
		http:      cfg.HTTPClient,
		store:     cfg.Store,
		tiles:     cfg.Tiles,
		log:       cfg.Logger,
		policy:    p,
		maxLookup: cfg.MaxLookupBytes,
		now:       time.Now,
		sigs:      release.NewSigMemo(sigMemoSize),
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.maxLookup == 0:
		c.maxLookup = DefaultMaxLookupBytes
	case c.maxLookup < 0:
		return nil, fmt.Errorf("tlog: Config.MaxLookupBytes is %d, want a positive size or zero for the default", c.maxLookup)
	}
	c.log = c.log.With("log", base.String(), "origin", p.origin)
	return c, nil
}

func parseLogURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("tlog: Config.URL is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("tlog: log URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("tlog: log URL %q: want http://host/... or https://host/...", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("tlog: log URL %q: must not carry a query, fragment or user info", s)
	}
	// Every path is resolved relative to the base, so it must end in "/".
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	return u, nil
}

// checkpointPolicy is what a checkpoint must satisfy. It holds no state
// and does no I/O.
type checkpointPolicy struct {
	origin    string
	log       note.Verifier
	witnesses []note.Verifier
	threshold int
	maxAge    time.Duration // <= 0: no limit
}

func newCheckpointPolicy(cfg Config) (*checkpointPolicy, error) {
	if cfg.LogKey == "" {
		return nil, errors.New("tlog: Config.LogKey is required")
	}
	lv, err := note.NewVerifier(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("tlog: log key %q: %w (want an Ed25519 verifier key NAME+HASH+BASE64)", cfg.LogKey, err)
	}
	p := &checkpointPolicy{origin: cfg.Origin, log: lv, threshold: cfg.WitnessThreshold, maxAge: cfg.MaxCosignatureAge}
	if p.origin == "" {
		p.origin = lv.Name()
	}
	if strings.ContainsAny(p.origin, "\n") {
		return nil, fmt.Errorf("tlog: origin %q contains a newline", p.origin)
	}
	seen := map[string]string{keyID(lv): "the log key"}
	for _, w := range cfg.Witnesses {
		v, err := witnessVerifier(w)
		if err != nil {
			return nil, fmt.Errorf("tlog: witness key %q: %w", w, err)
		}
		if prev, dup := seen[keyID(v)]; dup {
			return nil, fmt.Errorf("tlog: witness key %q is the same key as %s: every witness must be distinct", w, prev)
		}
		seen[keyID(v)] = fmt.Sprintf("witness key %q", w)
		p.witnesses = append(p.witnesses, v)
	}
	switch {
	case p.threshold < 0:
		return nil, fmt.Errorf("tlog: witness threshold %d is negative", p.threshold)
	case p.threshold > len(p.witnesses):
		return nil, fmt.Errorf("tlog: witness threshold %d, but only %d witness keys are configured", p.threshold, len(p.witnesses))
	case p.threshold == 0:
		p.threshold = len(p.witnesses)
	}
	if p.maxAge == 0 {
		p.maxAge = DefaultMaxCosignatureAge
	}
	return p, nil
}

// witnessVerifier returns the cosignature/v1 verifier for vkey, after
// checking that the key hash in vkey is the hash of its key: the formats
// package derives the hash and ignores the one written, which would let a
// mistyped key pass unnoticed.
func witnessVerifier(vkey string) (note.Verifier, error) {
	if _, err := note.NewVerifier(vkey); err == nil {
		// A valid plain Ed25519 key: note.NewVerifier checked its hash.
		cv, err := fnote.VKeyToCosignatureV1(vkey)
		if err != nil {
			return nil, err
		}
		vkey = cv
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w (want a cosignature/v1 or Ed25519 verifier key NAME+HASH+BASE64)", err)
	}
	_, rest, _ := strings.Cut(vkey, "+")
	hash16, _, _ := strings.Cut(rest, "+")
	if h, err := strconv.ParseUint(hash16, 16, 32); err != nil || uint32(h) != v.KeyHash() {
		return nil, fmt.Errorf("key hash %s does not match the key (want %08x)", hash16, v.KeyHash())
	}
	return v, nil
}

func keyID(v note.Verifier) string {
	return fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
}
