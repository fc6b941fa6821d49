package npm

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
	"github.com/sigilproxy/sigil/release"
)

// maxNotices bounds the reasons listed in one policyRestrictions message:
// a package whose every version is unsigned under a "deny" policy would
// otherwise print hundreds of lines. All are in the log.
const maxNotices = 20

// Media types of the two packument forms (npm/registry
// docs/responses/package-metadata.md; pacote lib/registry.js asks for the
// abbreviated one with "application/vnd.npm.install-v1+json; q=1.0,
// application/json; q=0.8, */*").
const (
	typeFull        = "application/json"
	typeAbbreviated = "application/vnd.npm.install-v1+json"
)

// servePackument answers a packument: the upstream's, each version decided
// by the Checker and by its registry signature, blocked ones removed,
// tarballs pointed at sigil, in the form the client asked for.
func (h *Handler) servePackument(w http.ResponseWriter, r *http.Request, name string) {
	base, ok := h.base(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "sigil: bad Host header")
		return
	}
	ctx := r.Context()
	u := h.upstreamBase + "/" + escapedName(name)
	// Its body is read below, unless a kept packument answers.
	doc, err := proxy.DocumentLazy(ctx, h.upstream, u)
	if err != nil {
		h.core.Fail(w, r, "the metadata of "+name, err)
		return
	}
	abbreviated := wantsAbbreviated(r.Header.Values("Accept"))
	form, ctype := "full", typeFull
	if abbreviated {
		form, ctype = "abbreviated", typeAbbreviated
	}
	// The key names no host: see composer's stateKey.
	key := "npm " + form + " " + h.prefix + "/" + escapedName(name)
	var ks *keyState
	if h.keys != nil {
		ks = h.keys.current(ctx)
	}
	hdr := w.Header()
	// The answer depends on Accept; shared caches must keep the forms
	// apart, as npm's own cache does (make-fetch-happen honours Vary).
	hdr.Set("Vary", "Accept")
	if doc.Stale {
		hdr.Set("X-Sigil-Stale", front.StaleMetadata)
	}
	// The packument rendered from these bytes, with these registry keys,
	// under verdicts that are still current: no parse, no verdicts.
	if k, ok := h.core.Kept(ctx, key, base, doc.Digest(), release.NPM, name, ks); ok {
		if x, ok := h.index.Get(name); ok && x.sum == doc.Digest() {
			h.index.Put(name, x) // the tarball requests follow
		}
		if sum, _ := k.Extra().(summary); sum.blocked+sum.warned > 0 && h.noticeDue(name, sum) {
			hdr.Set("npm-notice", sum.notice(name))
		}
		h.core.ServeKept(w, r, k)
		return
	}
	if err := doc.Load(ctx); err != nil {
		h.core.Fail(w, r, "the metadata of "+name, err)
		return
	}
	if doc.Stale { // Load may have fetched it again
		hdr.Set("X-Sigil-Stale", front.StaleMetadata)
	} else {
		hdr.Del("X-Sigil-Stale")
	}
	p, x, err := h.parse(doc, name)
	if err != nil {
		h.core.Fail(w, r, "the metadata of "+name, front.Malformed(u, err))
		return
	}
	h.index.Put(name, x)
	if h.forward {
		h.learn(ctx, p)
	}
	ds, stamp := h.decide(ctx, p, ks)
	sum := summarize(ds)
	if sum.blocked+sum.warned > 0 && h.noticeDue(name, sum) {
		// npm prints an npm-notice header, but only from a response
		// its HTTP cache did not store (npm-registry-fetch
		// lib/check-response.js skips responses carrying
		// x-local-cache, which make-fetch-happen lib/cache/entry.js
		// sets on every response it stores). So a packument with
		// something to say is not stored by npm (no-store, below).
		hdr.Set("npm-notice", sum.notice(name))
	}
	h.core.ServeRendered(w, r, key, base, doc.Digest(), appendDecided(nil, ds), stamp, ks, func() front.Rendition {
		rd := front.Rendition{Body: h.filter(p, ds, base, abbreviated), ContentType: ctype, CacheControl: "no-cache", Extra: sum}
		if sum.blocked+sum.warned > 0 {
			rd.Header = http.Header{"X-Sigil-Verdict": {sum.header(h.core.Mode)}}
			rd.CacheControl = "no-store"
			// The Checker's "package decision" line said it.
			h.core.Log.Debug("npm: packument filtered", "package", p.name, "blocked", sum.blocked, "warned", sum.warned)
		}
		return rd
	})
}

// noticeWindow is how long the same npm-notice about a package is not
// sent again when it only warns: npm prints every notice it gets, and one
// install may read a packument more than once (both forms, several
// dependents), so a warning is printed once per install, not once per
// request. A notice about blocked versions is sent every time: the
// client must see why a version it asked for is missing.
const noticeWindow = time.Minute

// noticedSize bounds the notices remembered: more packages than an
// install has.
const noticedSize = 4096

// noticeDue reports whether the npm-notice of sum about name is to be
// sent now, and remembers that it was.
func (h *Handler) noticeDue(name string, sum summary) bool {
	if sum.blocked > 0 {
		return true
	}
	key := name + "\x00" + sum.notice(name)
	if _, seen := h.noticed.Get(key); seen {
		return false
	}
	h.noticed.Put(key, struct{}{})
	return true
}

// appendDecided appends the exact encoding of ds that
// front.Core.ServeRendered compares: the served document is a function of
// the upstream's and of it.
func appendDecided(b []byte, ds []decided) []byte {
	for _, d := range ds {
		switch {
		case d.noticeOnly:
			b = append(b, 2)
		case d.served:
			b = append(b, 1)
		default:
			b = append(b, 0)
		}
		b = append(b, d.reason...)
		b = append(b, 0xff) // not in any UTF-8 text: ends the version
	}
	return b
}

// packument fetches and parses the upstream's packument of name, and
// remembers its facts for the tarball requests that follow.
func (h *Handler) packument(ctx context.Context, name string) (*packument, *docIndex, *proxy.Document, error) {
	u := h.upstreamBase + "/" + escapedName(name)
	doc, err := h.upstream.Document(ctx, u)
	if err != nil {
		return nil, nil, nil, err
	}
	p, x, err := h.parse(doc, name)
	if err != nil {
		return nil, nil, nil, front.Malformed(u, err)
	}
	h.index.Put(name, x)
	return p, x, doc, nil
}

// wantsAbbreviated reports whether an Accept header asks for the
// abbreviated form: it names its media type with a q above zero.
func wantsAbbreviated(accept []string) bool {
	for _, a := range accept {
		for part := range strings.SplitSeq(a, ",") {
			typ, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(typ), typeAbbreviated) {
				continue
			}
			q := "1"
			for param := range strings.SplitSeq(params, ";") {
				if k, v, ok := strings.Cut(param, "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					q = strings.TrimSpace(v)
				}
			}
			if strings.Trim(q, "0.") != "" {
				return true
			}
		}
	}
	return false
}

// summary counts what filter did, for the headers and the log.
type summary struct {
	blocked, warned int
	// reasons are those of blocked and warned versions, in order, the
	// package's unsigned = warn notice once (at its first version).
	reasons []string
	// noticed counts the warned versions whose one reason is that
	// notice (policy.Verdict.NoticeOnly).
	noticed int
}

func (s summary) header(mode policy.Mode) string {
	v := fmt.Sprintf("%s; blocked=%d; warned=%d", mode, s.blocked, s.warned)
	if len(s.reasons) > 0 {
		v += "; " + strings.Join(s.reasons, "; ")
	}
	return headerValue(v, 2048)
}

// notice is the one line npm prints for a packument. A package that is
// only unsigned under unsigned = warn gets the policy's notice alone: one
// sentence about the package, not a count of its versions.
func (s summary) notice(name string) string {
	if s.blocked == 0 && s.warned == s.noticed && len(s.reasons) == 1 {
		return headerValue("sigil: "+s.reasons[0], 1024)
	}
	var parts []string
	if s.blocked > 0 {
		parts = append(parts, fmt.Sprintf("%d %s blocked", s.blocked, plural(s.blocked, "version")))
	}
	if s.warned > 0 {
		parts = append(parts, fmt.Sprintf("%d served with warnings", s.warned))
	}
	msg := "sigil: " + name + ": " + strings.Join(parts, ", ")
	if len(s.reasons) > 0 {
		msg += "; " + s.reasons[0]
		if n := len(s.reasons) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more: see sigil's log)", n)
		}
	}
	return headerValue(msg, 1024)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// decided is the outcome for one version.
type decided struct {
	served bool
	// noticeOnly: the reason is the package's unsigned = warn notice
	// alone (policy.Verdict.NoticeOnly).
	noticeOnly bool
	reason     string // "" when allowed without a word
}

// decide decides every version of p: one Checker call for all of them,
// each with the check of its registry signature against ks (nil: not
// checked) as evidence. It also returns the Checker's stamp of the
// verdicts.
func (h *Handler) decide(ctx context.Context, p *packument, ks *keyState) ([]decided, proxy.Stamp) {
	facts := make([]proxy.VersionFacts, 0, len(p.versions))
	for i := range p.versions {
		if v := &p.versions[i]; v.problem == "" {
			f := v.facts
			f.Registry = h.registry(ks, p.name, &v.versionFacts, p.times[v.key])
			facts = append(facts, f)
		}
	}
	verdicts, stamp := h.core.DecideStamped(ctx, release.NPM, p.name, facts)
	out := make([]decided, len(p.versions))
	j := 0
	for i := range p.versions {
		v := &p.versions[i]
		if v.problem != "" {
			out[i] = decided{reason: v.problem}
			h.core.Log.Warn("npm: dropped a malformed version", "package", p.name, "problem", v.problem)
			continue
		}
		vd := verdicts[j].Verdict
		j++
		out[i] = decided{served: vd.Action == policy.Allow || vd.Action == policy.Warn, noticeOnly: vd.NoticeOnly, reason: vd.Reason()}
		if vd.Action == policy.Allow && len(vd.Reasons) == 0 {
			out[i].reason = ""
		} else if out[i].reason == "" {
			out[i].reason = p.name + "@" + v.key
		}
	}
	return out, stamp
}

// registry checks the registry signature of one version, the evidence the
// policy weighs beside the vendor's (see policy.RegistrySignature).
func (h *Handler) registry(ks *keyState, pkg string, v *versionFacts, published string) policy.RegistrySignature {
	if ks == nil {
		return policy.RegistrySignature{}
	}
	required := h.sigMode == SignaturesRequire
	reasons := h.keys.check(ks, pkg, v, published, required)
	for _, reason := range reasons {
		h.core.Log.Debug("npm: registry signature", "package", pkg, "version", v.facts.Version, "reason", reason)
	}
	return policy.RegistrySignature{Problems: reasons, Required: required}
}

// summarize counts the versions ds blocks and warns about, for the
// headers and the log.
func summarize(ds []decided) summary {
	var sum summary
	notice := ""
	for _, d := range ds {
		switch {
		case !d.served:
			sum.blocked++
		case d.noticeOnly:
			sum.warned++
			sum.noticed++
			if d.reason == notice {
				continue // the same sentence for every version
			}
			notice = d.reason
		case d.reason != "":
			sum.warned++
		default:
			continue
		}
		sum.reasons = append(sum.reasons, d.reason)
	}
	return sum
}

// filter returns the packument to serve: p with the outcomes decide gave.
// It is a function of its arguments (and the Handler's configuration):
// what it returns is kept and served again for the same packument and
// outcomes (front.Core.ServeRendered).
func (h *Handler) filter(p *packument, ds []decided, base string, abbreviated bool) []byte {
	dropped := map[string]bool{}
	for i, d := range ds {
		if !d.served {
			dropped[p.versions[i].key] = true
		}
	}
	w := writer{h: h, p: p, ds: ds, base: base, dropped: dropped}
	// Served documents are about as large as the upstream's (or, for the
	// abbreviated form, smaller): allocate once.
	b := make([]byte, 0, p.size+p.size/8+1024)
	if abbreviated {
		return w.abbreviated(b)
	}
	return w.full(b)
}

// writer writes a served packument.
type writer struct {
	h       *Handler
	p       *packument
	ds      []decided
	base    string
	dropped map[string]bool // version keys not served
}

// servedTop are the members of an upstream packument sigil serves (an
// allowlist): the package's name, its versions, dist-tags and times,
// which sigil rewrites, and what npm shows a person (npm view, npm
// repo, npm docs, npm bugs). Among those dropped: policyRestrictions,
// which is sigil's own to write; stagedVersions, which would let npm
// (with --include-staged) install versions outside "versions", which
// sigil has not decided; _attachments, the publish payload; _rev and
// users, read by nothing that installs.
var servedTop = map[string]bool{
	"_id": true, "name": true, "versions": true, "dist-tags": true, "time": true,
	"description": true, "readme": true, "readmeFilename": true, "homepage": true,
	"keywords": true, "repository": true, "bugs": true, "license": true,
	"author": true, "contributors": true, "maintainers": true,
}

// full writes the full form: the upstream's document with blocked
// versions gone from versions and time, dist-tags moved, tarballs
// rewritten, and policyRestrictions saying why.
func (w *writer) full(b []byte) []byte {
	b = append(b, '{')
	for _, m := range w.p.top {
		switch {
		case !servedTop[m.key]:
		case m.key == "versions" && rawjson.Kind(m.val) == '{':
			b = appendMember(b, m.key, nil)
			b = w.versions(b, false)
		case m.key == "time" && rawjson.Kind(m.val) == '{':
			b = appendMember(b, m.key, nil)
			b = w.time(b)
		case m.key == "dist-tags" && rawjson.Kind(m.val) == '{':
			b = appendMember(b, m.key, nil)
			b = w.distTags(b)
		default:
			b = appendMember(b, m.key, m.val)
		}
	}
	b = w.restrictions(b)
	return append(b, '}')
}

// abbreviated writes the abbreviated form the registry serves for the
// install Accept header: name, modified, dist-tags and versions, each
// version cut to what installing reads (abbreviatedFields).
func (w *writer) abbreviated(b []byte) []byte {
	b = append(b, '{')
	b = appendMember(b, "name", rawjson.AppendString(nil, w.p.name))
	if raw, ok := w.p.top.get("modified"); ok {
		b = appendMember(b, "modified", raw)
	} else if t, ok := w.p.times["modified"]; ok {
		b = appendMember(b, "modified", rawjson.AppendString(nil, t))
	}
	if w.p.hasTags {
		b = appendMember(b, "dist-tags", nil)
		b = w.distTags(b)
	}
	if raw, ok := w.p.top.get("versions"); ok && rawjson.Kind(raw) == '{' {
		b = appendMember(b, "versions", nil)
		b = w.versions(b, true)
	}
	b = w.restrictions(b)
	return append(b, '}')
}

// abbreviatedInfo are the informational version members the abbreviated
// form keeps besides identity, dist and the manifest's fields: those the
// registry documents for it (npm/registry
// docs/responses/package-metadata.md) and arborist records in a lockfile
// (lib/shrinkwrap.js pkgMetaKeys).
var abbreviatedInfo = map[string]bool{"deprecated": true, "funding": true, "license": true}

// servedMember reports whether a version member is served as the
// upstream wrote it: front.ServedField's allowlist (identity, the
// manifest's fields, informational ones), cut further for the abbreviated
// form. "dist" is sigil's (see dist). "scripts" is never served: npm would
// run the packument's scripts (@npmcli/arborist rebuild.js) instead of
// those of the verified tarball, which it reads when hasInstallScript is
// set and the version object has none; sigil sets it (see
// hasInstallScript). "_hasShrinkwrap" is sigil's too (see versions).
// Neither is "gypfile", "man", "directories",
// "devDependencies", "gitHead" or any field npm may add later.
func servedMember(key string, abbreviated bool) bool {
	if !front.ServedField(release.NPM, key) {
		return false
	}
	return !abbreviated || key == "name" || key == "version" ||
		front.IsManifestField(release.NPM, key) || abbreviatedInfo[key]
}

// versions writes the served "versions" object.
func (w *writer) versions(b []byte, abbreviated bool) []byte {
	b = append(b, '{')
	for i := range w.p.versions {
		if !w.ds[i].served {
			continue
		}
		v := &w.p.versions[i]
		b = appendMember(b, v.key, nil)
		b = append(b, '{')
		for _, m := range v.obj {
			switch {
			case m.key == "dist":
				b = appendMember(b, m.key, nil)
				b = w.dist(b, v)
			case servedMember(m.key, abbreviated):
				b = appendMember(b, m.key, m.val)
			}
		}
		if v.installScript {
			b = appendMember(b, "hasInstallScript", []byte("true"))
		}
		if v.facts.Shrinkwrap {
			// Checked against the tarball's root files when it is
			// fetched (policy.Metadata.Shrinkwrap).
			b = appendMember(b, "_hasShrinkwrap", []byte("true"))
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// hasInstallScript reports whether the served version must say that it
// runs install scripts: the full form says it with "scripts", which sigil
// does not serve (see servedMember), and npm reads hasInstallScript
// instead (@npmcli/arborist lib/node.js), then the scripts of the
// extracted tarball (rebuild.js). As the registry does for the
// abbreviated form, it is added only where the version does not carry
// one itself.
func hasInstallScript(v object) bool {
	if _, ok := v.get("hasInstallScript"); ok {
		return false
	}
	raw, ok := v.get("scripts")
	if !ok || rawjson.Kind(raw) != '{' {
		return false
	}
	// Most versions run none: without "install" and without an escape
	// that could spell it, no name in raw is one of installScripts.
	if bytes.IndexByte(raw, '\\') < 0 && !bytes.Contains(raw, []byte(`install"`)) {
		return false
	}
	// The last of duplicate names wins, as in JSON.parse. A string that
	// is not "" decodes to one that is not: the document is valid JSON.
	var set [3]bool
	err := rawjson.Members(raw, knownKeys, func(key string, val []byte) {
		if i := slices.Index(installScripts, key); i >= 0 {
			val = bytes.TrimSpace(val)
			set[i] = rawjson.Kind(val) == '"' && len(val) > 2
		}
	})
	return err == nil && (set[0] || set[1] || set[2])
}

// installScripts are the scripts npm runs when it installs a package.
var installScripts = []string{"preinstall", "install", "postinstall"}

// servedDist are the dist members served: the tarball (sigil's URL),
// the digests npm checks the bytes against (integrity, shasum), the
// registry's signatures and attestations (npm audit signatures), and two
// numbers npm view shows. Others, such as "npm-signature" (the registry's
// retired PGP signature), are dropped.
var servedDist = map[string]bool{
	"tarball": true, "integrity": true, "shasum": true, "signatures": true,
	"attestations": true, "fileCount": true, "unpackedSize": true,
}

// dist writes a served dist: the members servedDist names as the
// upstream wrote them (integrity and signatures byte for byte), but the
// tarball URL sigil's own, except in forward mode.
func (w *writer) dist(b []byte, v *version) []byte {
	b = append(b, '{')
	for _, m := range v.dist {
		switch {
		case !servedDist[m.key]:
		case m.key == "tarball" && !w.h.forward:
			b = appendMember(b, m.key, rawjson.AppendString(nil, w.base+w.h.prefix+tarballPath(w.p.name, v.key)))
		default:
			b = appendMember(b, m.key, m.val)
		}
	}
	return append(b, '}')
}

// time writes "time" without the entries of versions not served.
func (w *writer) time(b []byte) []byte {
	b = append(b, '{')
	for _, m := range w.p.time {
		if !w.dropped[m.key] {
			b = appendMember(b, m.key, m.val)
		}
	}
	return append(b, '}')
}

// distTags writes "dist-tags", moving each tag that names a version not
// served (see moveTag).
func (w *writer) distTags(b []byte) []byte {
	var cands []string // served versions by precedence, highest first
	b = append(b, '{')
	for _, m := range w.p.distTags {
		target, ok := rawjson.String(m.val)
		if !ok {
			continue // names no version
		}
		if !w.dropped[target] {
			b = appendMember(b, m.key, m.val)
			continue
		}
		if cands == nil {
			cands = w.servedBySemver()
		}
		if to, ok := moveTag(target, cands); ok {
			b = appendMember(b, m.key, rawjson.AppendString(nil, to))
		}
	}
	return append(b, '}')
}

// moveTag finds where a tag that named the blocked version from goes: the
// version of highest precedence among those served that is lower than
// from, and a prerelease only if from is one. Lower, because a tag is a
// maintainer's choice: "latest" may sit below a newer major published
// under "next", and a blocked "latest" must not promote that major. A
// prerelease only for a prerelease tag, as npm never picks a prerelease
// for a plain range. None (ok false): the tag goes away. cands are
// canonical "v"-prefixed versions, highest first.
func moveTag(from string, cands []string) (string, bool) {
	f, ok := semverOf(from)
	if !ok {
		return "", false
	}
	pre := semver.Prerelease(f) != ""
	for _, c := range cands {
		if semver.Compare(c, f) >= 0 || (!pre && semver.Prerelease(c) != "") {
			continue
		}
		return c[1:], true
	}
	return "", false
}

// servedBySemver returns the served versions that are semantic versions,
// "v"-prefixed, highest precedence first (ties by string, for a stable
// choice).
func (w *writer) servedBySemver() []string {
	out := []string{}
	for i := range w.p.versions {
		if !w.ds[i].served {
			continue
		}
		if s, ok := semverOf(w.p.versions[i].key); ok {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(semver.Compare(b, a), strings.Compare(b, a))
	})
	return out
}

// semverOf returns "v"+s if s is a full semantic version (x.y.z, optional
// prerelease and build), as npm's registry stores them.
func semverOf(s string) (string, bool) {
	v := "v" + s
	core, _, _ := strings.Cut(v, "+")
	if !semver.IsValid(v) || semver.Canonical(v) != core {
		return "", false
	}
	return v, true
}

// restrictions writes policyRestrictions for the versions not served:
// npm-pick-manifest (lib/index.js) reads policyRestrictions.versions as
// versions that exist but may not be installed, and when the version it
// picks is one of them it fails with E403 "Could not download
// name@spec due to policy violations:" followed by policyRestrictions.
// message. Entries hold only name and version: nothing to download.
func (w *writer) restrictions(b []byte) []byte {
	var idx []int
	for i := range w.p.versions {
		if !w.ds[i].served {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return b
	}
	// The message lists the newest first: what npm picks, most often.
	slices.SortStableFunc(idx, func(a, b int) int {
		va, oka := semverOf(w.p.versions[a].key)
		vb, okb := semverOf(w.p.versions[b].key)
		switch {
		case oka && okb:
			return semver.Compare(vb, va)
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	msg := make([]string, 0, min(len(idx), maxNotices)+2)
	msg = append(msg, fmt.Sprintf("sigil blocked %d %s of %s:", len(idx), plural(len(idx), "version"), w.p.name))
	for _, i := range idx[:min(len(idx), maxNotices)] {
		msg = append(msg, "  "+w.ds[i].reason)
	}
	if n := len(idx) - maxNotices; n > 0 {
		msg = append(msg, fmt.Sprintf("  and %d more; sigil's log has every reason", n))
	}
	b = appendMember(b, "policyRestrictions", nil)
	b = append(b, '{')
	b = appendMember(b, "message", rawjson.AppendString(nil, strings.Join(msg, "\n")))
	b = appendMember(b, "versions", nil)
	b = append(b, '{')
	for _, i := range idx {
		v := &w.p.versions[i]
		b = appendMember(b, v.key, nil)
		b = append(b, '{')
		b = appendMember(b, "name", rawjson.AppendString(nil, w.p.name))
		b = appendMember(b, "version", rawjson.AppendString(nil, v.key))
		b = append(b, '}')
	}
	return append(b, "}}"...)
}
