package composer

import (
	"bytes"
	"encoding/json"

	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
	"github.com/sigilproxy/sigil/release"
)

// served is one version object as sigil serves it, written without being
// built: the members of an upstream version (shared by every request that
// serves the same upstream document, and never changed) but those
// notServed names, and sigil's own source and dist. Members are written in
// sorted key order, so that equal objects encode to equal bytes and the
// served document (and its ETag) is a function of its content.
type served struct {
	members      []member        // of the upstream version, sorted by key
	source, dist json.RawMessage // sigil's; nil: none
}

// notServed reports whether a served version leaves out the upstream
// member key: every member but those front.ServedField allows (identity,
// the fields the manifest digest covers, informational ones). Among those
// dropped: version_normalized, which no statement covers and which
// Composer uses, when present, instead of normalizing "version"
// (ArrayLoader, ComposerRepository::loadAsyncPackages): a changed one
// would make a signed old version pose as a newer one, while without it
// Composer normalizes the version string that was decided;
// transport-options, which would let metadata change how Composer
// downloads the archive; notification-url, where Composer would post
// install statistics; installation-source, require-dev, autoload-dev and
// scripts, which no dependency's install reads. source and dist are
// sigil's (servedVersion, distJSON).
func notServed(key string) bool {
	return !front.ServedField(release.Composer, key)
}

// cursor visits the members of a served object in key order.
type cursor struct {
	s            *served
	i            int
	dist, source json.RawMessage // not visited yet
}

func (s *served) cursor() cursor { return cursor{s: s, dist: s.dist, source: s.source} }

// next returns the next member, or ok false after the last.
func (c *cursor) next() (key string, val json.RawMessage, ok bool) {
	for c.i < len(c.s.members) && notServed(c.s.members[c.i].key) {
		c.i++
	}
	more := c.i < len(c.s.members)
	if more {
		key = c.s.members[c.i].key
	}
	switch {
	case c.dist != nil && (!more || "dist" < key): // "dist" < "source"
		val, c.dist = c.dist, nil
		return "dist", val, true
	case c.source != nil && (!more || "source" < key):
		val, c.source = c.source, nil
		return "source", val, true
	case !more:
		return "", nil, false
	}
	c.i++
	return key, c.s.members[c.i-1].val, true
}

// diff calls fn for the members of prev and cur in key order, with the
// value of each in prev and in cur; nil where it has none.
func diff(prev, cur *served, fn func(key string, pv, cv json.RawMessage)) {
	p, c := prev.cursor(), cur.cursor()
	pk, pv, pok := p.next()
	ck, cv, cok := c.next()
	for pok || cok {
		switch {
		case cok && (!pok || ck < pk):
			fn(ck, nil, cv)
			ck, cv, cok = c.next()
		case pok && (!cok || pk < ck):
			fn(pk, pv, nil)
			pk, pv, pok = p.next()
		default:
			fn(ck, pv, cv)
			pk, pv, pok = p.next()
			ck, cv, cok = c.next()
		}
	}
}

// unchanged reports whether a member has the same value in prev and cur,
// and so is not in the minified form.
func unchanged(pv, cv json.RawMessage) bool {
	return pv != nil && cv != nil && bytes.Equal(bytes.TrimSpace(pv), bytes.TrimSpace(cv))
}

// canMinify reports whether the composer/2.0 format can represent vs:
// after the first version, a changed value cannot be the string "__unset",
// which expand would take for a deletion.
func canMinify(vs []served) bool {
	for i := 1; i < len(vs); i++ {
		ok := true
		diff(&vs[i-1], &vs[i], func(_ string, pv, cv json.RawMessage) {
			if cv != nil && !unchanged(pv, cv) && isUnset(cv) {
				ok = false
			}
		})
		if !ok {
			return false
		}
	}
	return true
}

func appendMinified(b []byte, vs []served) []byte {
	b = append(b, '[')
	for i := range vs {
		if i == 0 {
			b = appendServed(b, &vs[i])
			continue
		}
		b = append(b, ',')
		b = appendDiff(b, &vs[i-1], &vs[i])
	}
	return append(b, ']')
}

func appendPlain(b []byte, vs []served) []byte {
	b = append(b, '[')
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendServed(b, &vs[i])
	}
	return append(b, ']')
}

// appendServed appends s whole.
func appendServed(b []byte, s *served) []byte {
	b = append(b, '{')
	c := s.cursor()
	for k, v, ok := c.next(); ok; k, v, ok = c.next() {
		b = appendMember(b, k, bytes.TrimSpace(v))
	}
	return append(b, '}')
}

// appendDiff appends the minified form of cur after prev: the members
// that changed or are new, and "__unset" for those that went away (the
// caller checked with canMinify that no changed value is "__unset").
func appendDiff(b []byte, prev, cur *served) []byte {
	b = append(b, '{')
	diff(prev, cur, func(k string, pv, cv json.RawMessage) {
		switch {
		case unchanged(pv, cv):
		case cv != nil:
			b = appendMember(b, k, bytes.TrimSpace(cv))
		default:
			b = appendMember(b, k, []byte(`"`+unsetMarker+`"`))
		}
	})
	return append(b, '}')
}

// appendMember appends "key":val, with a comma first unless b ends an
// opening brace.
func appendMember(b []byte, key string, val []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' {
		b = append(b, ',')
	}
	b = rawjson.AppendStringHTML(b, key)
	b = append(b, ':')
	return append(b, val...)
}
