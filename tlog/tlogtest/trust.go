package tlogtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// Trust builds a tlog.PackageTrust by hand, for tests of what decides from
// one (policy, proxy) without writing a log: the rules that make a
// PackageTrust from entries are tlog.Evaluate's, tested there. Each method
// adds to the PackageTrust and returns the same Trust, so calls chain:
//
//	tlogtest.NewTrust(release.Composer, "acme/foo").Key("acme", "acme-release").
//		Statement(7, release.Statement{Version: "1.0.0", ...}, "acme-release").PackageTrust
type Trust struct {
	*tlog.PackageTrust
}

// NewTrust returns the trust of a package no key governs: unsigned.
func NewTrust(eco, pkg string) Trust {
	return Trust{&tlog.PackageTrust{
		Ecosystem:  eco,
		Package:    pkg,
		Namespaces: release.Namespaces(eco, pkg),
		Statements: map[string]*tlog.VersionEvidence{},
		Keys:       map[string][]release.KeyInfo{},
	}}
}

// VerifierKey returns a verifier key line for name, NAME+HASH+KEY, the same
// for the same name. It verifies nothing: the signatures are taken as
// checked.
func VerifierKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return name + "+" + hex.EncodeToString(sum[:4]) + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, sum[:]...))
}

// Key adds an active key named name (see VerifierKey) to namespace ns.
func (t Trust) Key(ns, name string) Trust {
	t.Keys[ns] = append(t.Keys[ns], release.KeyInfo{Namespace: ns, Key: VerifierKey(name), AddedBy: release.ByNamespace})
	return t
}

// Revoked adds a key named name to namespace ns, revoked at index at: the
// namespace stays keyed.
func (t Trust) Revoked(ns, name string, at uint64) Trust {
	t.Keys[ns] = append(t.Keys[ns], release.KeyInfo{Namespace: ns, Key: VerifierKey(name), AddedBy: release.ByNamespace,
		Revoked: true, RevokedAt: at, RevokedBy: release.ByNamespace})
	return t
}

// Statement adds st as the valid statement of st.Version, logged at index
// and signed by the keys named signers. Its ecosystem and package are the
// trust's. A second call for one version adds an entry of the same
// release (the same text signed again).
func (t Trust) Statement(index uint64, st release.Statement, signers ...string) Trust {
	st.Ecosystem, st.Package = t.Ecosystem, t.Package
	ls := tlog.LoggedStatement{Index: index, Statement: &st}
	for _, name := range signers {
		ls.Signers = append(ls.Signers, VerifierKey(name))
	}
	if ve := t.Statements[st.Version]; ve != nil {
		ve.Entries = append(ve.Entries, ls)
		return t
	}
	t.Statements[st.Version] = &tlog.VersionEvidence{Statement: &st, Entries: []tlog.LoggedStatement{ls}}
	return t
}

// Equivocation records two different statements of version, at log
// indices first and second.
func (t Trust) Equivocation(version string, first, second uint64) Trust {
	st := func(tree string) *release.Statement {
		return &release.Statement{Ecosystem: t.Ecosystem, Package: t.Package, Version: version, Tree: tree}
	}
	t.Equivocations = append(t.Equivocations, tlog.Equivocation{Version: version,
		First:  tlog.LoggedStatement{Index: first, Statement: st("first")},
		Second: tlog.LoggedStatement{Index: second, Statement: st("second")}})
	delete(t.Statements, version)
	return t
}

// Refused records a statement of version, at index, that does not count,
// and why.
func (t Trust) Refused(index uint64, version, reason string) Trust {
	t.PackageTrust.Refused = append(t.PackageTrust.Refused, tlog.RefusedEntry{Index: index, Version: version, Reason: reason})
	return t
}
