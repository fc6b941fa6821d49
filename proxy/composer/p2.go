package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
	"github.com/sigilproxy/sigil/release"
)

// maxNotices bounds the warnings sigil adds to one document: a package
// whose every version is unsigned under a "deny" policy would otherwise
// print hundreds of lines. The rest are counted in one more line, and all
// are in sigil's log.
const maxNotices = 20

// serveP2 answers vendor/name.json or vendor/name~dev.json: the upstream's
// document, each version decided by the Checker, blocked ones removed,
// archives pointed at sigil.
func (h *Handler) serveP2(w http.ResponseWriter, r *http.Request, file string) {
	base, ok := h.base(r)
	if !ok {
		http.Error(w, "bad Host header", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	pkg := strings.TrimSuffix(file, devSuffix)
	root, err := h.rootInfo(ctx)
	if err != nil {
		h.core.Fail(w, r, "metadata of "+pkg, err)
		return
	}
	u := strings.ReplaceAll(root.metadataURL, "%package%", file)
	// Its body is read below, unless a kept document answers.
	doc, err := proxy.DocumentLazy(ctx, h.upstream, u)
	if err != nil {
		h.core.Fail(w, r, "metadata of "+pkg, err)
		return
	}
	if doc.Stale {
		w.Header().Set("X-Sigil-Stale", front.StaleMetadata)
	}
	key := stateKey(h.prefix, "/p2/"+file+".json")
	// The document rendered from these bytes under verdicts that are
	// still current: no parse, no verdicts.
	if k, ok := h.core.Kept(ctx, key, base, doc.Digest(), release.Composer, pkg, nil); ok {
		if x, ok := h.index.Get(u); ok && x.sum == doc.Digest() {
			h.index.Put(u, x) // the archive requests follow
		}
		h.core.ServeKept(w, r, k)
		return
	}
	if err := doc.Load(ctx); err != nil {
		h.core.Fail(w, r, "metadata of "+pkg, err)
		return
	}
	if doc.Stale { // Load may have fetched it again
		w.Header().Set("X-Sigil-Stale", front.StaleMetadata)
	} else {
		w.Header().Del("X-Sigil-Stale")
	}
	d, x, err := h.parse(doc, pkg)
	if err != nil {
		h.core.Fail(w, r, "metadata of "+pkg, front.Malformed(u, err))
		return
	}
	h.index.Put(u, x) // the archive requests follow
	if h.forward {
		// Blocked versions are learned too: a lock file that names one
		// then gets the verdict, not "unknown URL".
		h.learn(ctx, d)
	}
	verdicts, stamp := h.decide(ctx, d)
	dev := file != pkg
	h.core.ServeRendered(w, r, key, base, doc.Digest(), front.AppendVerdicts(nil, verdicts), stamp, nil, func() front.Rendition {
		body, sum := h.filter(d, verdicts, base, dev)
		rd := front.Rendition{Body: body, ContentType: contentTypeJSON, CacheControl: "no-cache"}
		if sum.blocked+sum.warned > 0 {
			rd.Header = http.Header{"X-Sigil-Verdict": {sum.header(h.core.Mode)}}
		}
		return rd
	})
}

// summary counts what filter did, for the X-Sigil-Verdict header.
type summary struct {
	blocked, warned int
	reasons         []string
}

func (s summary) header(mode policy.Mode) string {
	v := fmt.Sprintf("%s; blocked=%d; warned=%d", mode, s.blocked, s.warned)
	if len(s.reasons) > 0 {
		v += "; " + strings.Join(s.reasons, "; ")
	}
	return headerValue(v, 2048)
}

// decide decides every version of d that is not malformed, with one call
// to the Checker: one verdict per such entry, in order, and the Checker's
// stamp of them.
func (h *Handler) decide(ctx context.Context, d *p2Doc) ([]proxy.VersionVerdict, proxy.Stamp) {
	d.factsOnce.Do(func() {
		d.facts = make([]proxy.VersionFacts, 0, len(d.entries))
		for i := range d.entries {
			if e := &d.entries[i]; e.problem == "" {
				d.facts = append(d.facts, e.facts)
			}
		}
	})
	return h.core.DecideStamped(ctx, release.Composer, d.pkg, d.facts)
}

// filter returns the document to serve: d with the verdicts decide gave;
// dev says d is the package's ~dev file. It is a function of its
// arguments (and the Handler's configuration): what it returns is kept
// and served again for the same document and verdicts
// (front.Core.ServeRendered).
//
// Each blocked or warned version gets a warning line, but the unsigned =
// warn notice (policy.Verdict.NoticeOnly), the same sentence for every
// version of the package, gets one line per package: in the package's
// own file only, which Composer reads whenever it reads the ~dev file
// (ComposerRepository::loadAsyncPackages skips it only when "dev" is the
// one stability acceptable, which a root's minimum-stability never
// makes). So an install prints it once.
func (h *Handler) filter(d *p2Doc, verdicts []proxy.VersionVerdict, base string, dev bool) ([]byte, summary) {
	var sum summary
	var notices []notice
	more := 0 // notices past maxNotices
	note := func(msg string) {
		sum.reasons = append(sum.reasons, msg)
		if len(notices) < maxNotices {
			notices = append(notices, notice{Message: msg, Versions: "*"})
		} else {
			more++
		}
	}
	noticed := ""

	served := make([]served, 0, len(d.entries))
	j := 0
	for i := range d.entries {
		e := &d.entries[i]
		if e.problem != "" {
			sum.blocked++
			h.core.Log.Warn("composer: dropped malformed entry", "package", d.pkg, "problem", e.problem)
			note("sigil dropped an entry: " + e.problem)
			continue
		}
		v := verdicts[j]
		j++
		reason := v.Reason()
		if reason == "" {
			reason = d.pkg + "@" + e.facts.Version
		}
		// The Checker logs each verdict; here they become notices.
		switch v.Action {
		case policy.Allow:
		case policy.Warn:
			sum.warned++
			msg := "sigil allowed with a warning: " + reason
			switch {
			case !v.NoticeOnly:
				note(msg)
			case reason == noticed:
			case dev:
				noticed = reason
				sum.reasons = append(sum.reasons, msg) // X-Sigil-Verdict only
			default:
				noticed = reason
				note(msg)
			}
		default: // Block, and any action sigil does not know, fails closed
			sum.blocked++
			note("sigil blocked: " + reason)
			continue
		}
		served = append(served, h.servedVersion(e, v, base))
	}
	if sum.blocked+sum.warned > 0 {
		h.core.Log.Debug("composer: metadata filtered", "package", d.pkg, "versions", len(d.entries), "blocked", sum.blocked, "warned", sum.warned)
	}
	if more > 0 {
		notices = append(notices, notice{
			Message:  fmt.Sprintf("sigil: %d more notices about %s; see sigil's log or the X-Sigil-Verdict header", more, d.pkg),
			Versions: "*",
		})
	}
	// Served documents are about as large as the upstream's: allocate
	// once.
	return appendP2(make([]byte, 0, d.size+d.size/4+1024), d, served, notices), sum
}

// servedVersion returns the version object sigil serves for e: e's
// members but those notServed names, and sigil's own source and dist.
func (h *Handler) servedVersion(e *entry, v proxy.VersionVerdict, base string) served {
	s := served{members: e.members}
	// Composer falls back to the source when the dist fails (and a lock
	// file records it), which would fetch code sigil never saw: a source
	// is served only where policy keeps it (a rule's source = "keep").
	if v.KeepSource {
		s.source = e.source
	}
	if e.dist.ok {
		s.dist = h.distJSON(base, e)
	}
	return s
}

// distJSON is the served dist: sigil's URL for the archive (the upstream's
// in forward mode), the type and reference. "shasum" is dropped: it is the
// SHA-1 of the upstream's bytes when the version was published, sigil
// serves the first bytes it verified, and those differ whenever the
// upstream regenerates an archive (GitHub zipballs are not byte-stable);
// Composer refuses a download whose SHA-1 differs (FileDownloader), while
// the tree hash sigil checks covers the content the SHA-1 stood for.
// "mirrors" are dropped as for sources.
func (h *Handler) distJSON(base string, e *entry) json.RawMessage {
	u := e.dist.url
	if !h.forward {
		u = base + h.prefix + distPath(e.facts.Package, e.facts.Version, e.dist)
	}
	b := make([]byte, 0, 64+len(u)+len(e.dist.reference))
	b = append(b, '{')
	if e.dist.reference != "" {
		b = append(b, `"reference":`...)
		b = rawjson.AppendStringHTML(b, e.dist.reference)
		b = append(b, ',')
	}
	b = append(b, `"type":`...)
	b = rawjson.AppendStringHTML(b, e.dist.typ)
	b = append(b, `,"url":`...)
	b = rawjson.AppendStringHTML(b, u)
	return append(b, '}')
}

// appendP2 encodes the served document. The version list is minified in
// the composer/2.0 format when that represents it exactly (it cannot carry
// a literal "__unset" value after the first version), and plain
// otherwise; Composer reads both (ComposerRepository::loadAsyncPackages).
// The list, most of the bytes, is written once, straight into b.
func appendP2(b []byte, d *p2Doc, versions []served, notices []notice) []byte {
	top := make(object, len(d.rest)+3)
	for k, v := range d.rest {
		top[k] = v
	}
	if len(notices) > 0 {
		var all []notice
		if raw, ok := top["warnings"]; ok {
			_ = json.Unmarshal(raw, &all) // passNotices wrote it; it parses
		}
		top["warnings"] = appendNotices(nil, append(all, notices...))
	}
	minified := d.present && canMinify(versions)
	if minified {
		top["minified"] = json.RawMessage(`"composer/2.0"`)
	}
	top["packages"] = nil // written below
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	return appendSorted(b, keys, func(b []byte, k string) []byte {
		switch {
		case k != "packages":
			return append(b, bytes.TrimSpace(top[k])...)
		case !d.present:
			return append(b, "{}"...)
		}
		b = append(b, '{')
		b = rawjson.AppendStringHTML(b, d.pkg)
		b = append(b, ':')
		if minified {
			b = appendMinified(b, versions)
		} else {
			b = appendPlain(b, versions)
		}
		return append(b, '}')
	})
}
