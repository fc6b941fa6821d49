package front

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sigilproxy/sigil/internal/egress"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
)

// Core is the half of a front's Handler that does not depend on the
// ecosystem: it asks the Checker about a document's versions, serves the
// documents the front builds with sigil's own validators, and answers
// failures. How an answer reads to the client (a plain 404, the JSON
// member the client prints) is the front's, in NotFound and Message.
//
// Init gives the optional fields their defaults; the others must be set.
// A Core is not changed once its Handler is made, and is then safe for
// concurrent use.
type Core struct {
	// Name starts every log line: "composer", "npm".
	Name    string
	Checker proxy.Checker
	// Log receives failures; the Checker logs verdicts. Default: discard.
	Log *slog.Logger
	// Mode is the default mode, which words the X-Sigil-Verdict header;
	// verdicts come from the Checker. Default: enforce.
	Mode policy.Mode
	// Served keeps the Last-Modified state of served documents. Default:
	// a MemServed, which forgets across restarts (clients then fetch each
	// document once more).
	Served ServedStore
	// Rendered keeps the documents served, for ServeRendered. Default: a
	// Rendered of RenderedEntries and RenderedBytes, with RenderedDir.
	Rendered *Rendered
	// RenderedDir is where the default Rendered keeps bodies larger than
	// SpillBytes (NewSpillingRendered). Default "": in memory.
	RenderedDir string
	// KeepFor bounds how long a Rendition is served again without
	// deciding and rendering (Kept), for a front that must see its
	// document now and then (forward mode learns the archive hosts a
	// served document names). Default (0): as long as it is current.
	KeepFor time.Duration
	// Metrics counts reused and rendered documents. Default (nil):
	// nothing is counted.
	Metrics *proxy.Metrics
	// NotFound answers a 404 that the client takes quietly, as "no such
	// package".
	NotFound func(w http.ResponseWriter)
	// Message answers status with a body whose msg the client prints.
	// It must never be given 401 or 403, which make clients ask for
	// credentials; proxy.StatusOf never gives them.
	Message func(w http.ResponseWriter, status int, msg string)
}

// Init gives the optional fields that are unset their defaults.
func (c *Core) Init() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Mode == "" {
		c.Mode = policy.ModeEnforce
	}
	if c.Served == nil {
		c.Served = NewMemServed()
	}
	if c.Rendered == nil {
		c.Rendered = NewSpillingRendered(RenderedEntries, RenderedBytes, c.RenderedDir, SpilledBytes)
	}
}

// Fail answers err with the status proxy.StatusOf gives it (the one
// mapping of errors to statuses): NotFound for proxy.ErrNotFound, nothing
// if the client went away, a refusal with the verdict's reasons for a
// *proxy.BlockedError, the host and rule of the outbound policy for an
// *egress.Refused (logged), and otherwise a Message naming what failed, which
// is also logged.
func (c *Core) Fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return // the client is gone; nobody reads an answer
	}
	var blocked *proxy.BlockedError
	var refused *egress.Refused
	switch status := proxy.StatusOf(err); {
	case status == http.StatusNotFound:
		c.NotFound(w)
	case errors.As(err, &blocked):
		c.Message(w, status, "sigil blocked: "+BlockedReason(blocked))
	case errors.As(err, &refused):
		c.Log.Warn(c.Name+": fetch refused", "what", what, "host", refused.Host, "rule", refused.Rule)
		c.Message(w, status, "sigil refused "+what+": "+refused.Error())
	case errors.Is(err, proxy.ErrBusy):
		// Not a failure of sigil or the upstream: the client retries.
		w.Header().Set("Retry-After", proxy.RetryAfter)
		c.Message(w, status, "sigil could not serve "+what+" now: "+err.Error())
	default:
		c.Log.Warn(c.Name+": request failed", "what", what, "status", status, "err", err)
		c.Message(w, status, "sigil could not serve "+what+": "+err.Error())
	}
}

// BlockedReason is what a refusal says: the verdict's reasons, or the
// version refused when it gives none.
func BlockedReason(b *proxy.BlockedError) string {
	if r := b.Verdict.Reason(); r != "" {
		return r
	}
	return b.Facts.Package + "@" + b.Facts.Version
}

// Malformed is an upstream document sigil cannot use: the upstream's
// fault, so a 502.
func Malformed(url string, err error) error {
	return &proxy.UpstreamError{URL: url, Err: err}
}

// ServeDocument answers a document sigil built, with its own validators:
// an ETag of the bytes and a Last-Modified from Served that moves only
// when they change, including when only a verdict did. http.ServeContent
// answers If-None-Match and If-Modified-Since with 304. cacheControl is
// "no-cache" (verdicts can change while the bytes sit in a shared cache,
// so every cache asks again; a 304 is cheap) or "no-store".
func (c *Core) ServeDocument(w http.ResponseWriter, r *http.Request, key string, body []byte, contentType, cacheControl string) {
	sum := sha256.Sum256(body)
	lastModified, err := c.Served.ServedState(r.Context(), key, sum[:])
	if err != nil {
		// Without a Last-Modified the client cannot revalidate, which
		// costs a transfer and nothing else.
		c.Log.Warn(c.Name+": served state", "key", key, "err", err)
		lastModified = time.Time{}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	hdr.Set("Cache-Control", cacheControl)
	http.ServeContent(w, r, "", lastModified, bytes.NewReader(body))
}

// Decide asks the Checker about every version of one document of pkg in
// one call, and holds it to its contract of one verdict per fact: a
// Checker that breaks it is logged, and every version of the document is
// blocked (it fails closed).
func (c *Core) Decide(ctx context.Context, ecosystem, pkg string, facts []proxy.VersionFacts) []proxy.VersionVerdict {
	var verdicts []proxy.VersionVerdict
	if len(facts) > 0 {
		verdicts = c.Checker.Versions(ctx, ecosystem, pkg, facts)
	}
	return c.checked(pkg, facts, verdicts)
}

// checked returns verdicts if there is one per fact, and else blocks
// every version.
func (c *Core) checked(pkg string, facts []proxy.VersionFacts, verdicts []proxy.VersionVerdict) []proxy.VersionVerdict {
	if len(verdicts) == len(facts) {
		return verdicts
	}
	c.Log.Error(c.Name+": checker returned the wrong number of verdicts", "package", pkg, "want", len(facts), "got", len(verdicts))
	verdicts = make([]proxy.VersionVerdict, len(facts))
	for i := range verdicts {
		verdicts[i].Action = policy.Block
		verdicts[i].Reasons = []string{pkg + "@" + facts[i].Version + ": sigil could not decide this version (internal error)"}
	}
	return verdicts
}

// QuoteForLog bounds an untrusted string for a log line or a message.
func QuoteForLog(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// StaleMetadata is the X-Sigil-Stale header of a document answered from
// the upstream's last copy while the upstream cannot be reached.
const StaleMetadata = "upstream unreachable; serving its last metadata"
