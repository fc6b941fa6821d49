package tlog

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sigilproxy/sigil/release"
)

// PackageTrust is what the log says about one package, computed by
// Evaluate from verified entries.
type PackageTrust struct {
	Ecosystem string
	Package   string
	// Namespaces govern the package, broadest first (release.Namespaces).
	Namespaces []string
	// Statements holds, by version string, the valid statements. A version
	// with equivocating statements is absent here and listed in
	// Equivocations, so that a consumer that overlooks equivocation still
	// finds no valid statement for it.
	Statements map[string]*VersionEvidence
	// Equivocations are versions with two different valid statements.
	Equivocations []Equivocation
	// Keys holds, by namespace, the history of every key: pinned keys
	// (AddedBy release.ByPin) first, then logged ones in log order,
	// including what was retired or revoked and on whose authority.
	Keys map[string][]release.KeyInfo
	// Refused are entries that do not count, in log order: key events the
	// rules refuse (break-glass where it is not allowed among them) and
	// statements that no valid key signed or whose key was revoked.
	Refused []RefusedEntry
}

// Keyed reports whether any namespace of the package has, or had, a key;
// if none has, the package is unsigned and the unsigned policy applies.
// Keys that were all revoked still make the package keyed: losing its keys
// must not turn a signed package into an unsigned one.
func (t *PackageTrust) Keyed() bool {
	for _, k := range t.Keys {
		if len(k) > 0 {
			return true
		}
	}
	return false
}

// VersionEvidence is the valid statement for one version.
type VersionEvidence struct {
	// Statement is the content every entry below states.
	Statement *release.Statement
	// Entries are the valid logged statements with that content, in log
	// order; usually one.
	Entries []LoggedStatement
}

// LoggedStatement is one valid statement entry.
type LoggedStatement struct {
	Index     uint64
	Note      []byte
	Statement *release.Statement
	// Signers are the verifier keys whose signatures count.
	Signers []string
}

// Equivocation is two valid statements with different content for one
// version: someone who holds a valid key signed two releases under one
// version, and the log shows both. The version must not be served.
type Equivocation struct {
	Version       string
	First, Second LoggedStatement // in log order
}

func (e Equivocation) String() string {
	return fmt.Sprintf("equivocation: %s %s version %s has two different valid statements, at log index %d and %d:\n"+
		"index %d:\n%s\nindex %d:\n%s",
		e.First.Statement.Ecosystem, e.First.Statement.Package, e.Version, e.First.Index, e.Second.Index,
		e.First.Index, indentNote(e.First.Note), e.Second.Index, indentNote(e.Second.Note))
}

// RefusedEntry is a logged entry that does not count, and why.
type RefusedEntry struct {
	Index  uint64
	Note   []byte
	Reason string
	// Version is the version a refused statement states, so that a
	// consumer can say why a version has no valid statement without
	// parsing the note again; empty for a key event.
	Version string
	// BreakGlass is set for a key event signed by a core key alone over a
	// namespace with active keys, refused because break-glass is not
	// allowed: the user should see that the ecosystem tried to take over.
	BreakGlass bool
}

// Evaluate computes, in log order, the keys and the valid statements of
// package pkg of ecosystem eco from entries, using release.Keyring for
// every key rule. entries must be verified (Client.Lookup) and in strictly
// ascending index order; coreKeys are the ecosystem's core keys; pins are
// the user's out-of-log vendor keys by namespace (--vendor-key NS=VKEY;
// pins for namespaces that do not govern pkg are ignored); breakGlass
// allows core-signed key events over namespaces that have keys.
//
// It is an error when an entry is not a sigil note or concerns another
// package or namespace: the log answered another question than was asked.
// Entries that break a key rule are no error; they are listed in Refused.
func Evaluate(entries []Entry, eco, pkg string, coreKeys []string, pins map[string][]string, breakGlass bool) (*PackageTrust, error) {
	return evaluate(entries, eco, pkg, coreKeys, pins, breakGlass, nil)
}

// Evaluate is Evaluate of the lookup's entries, package and ecosystem. A
// lookup made by a Client checks signatures through the client's memory of
// notes it has verified before, so a warm lookup costs no signature
// verification; the keys valid at each index are still replayed from the
// entries every time, so a new revocation takes effect at once.
func (lk *Lookup) Evaluate(coreKeys []string, pins map[string][]string, breakGlass bool) (*PackageTrust, error) {
	return evaluate(lk.Entries, lk.Ecosystem, lk.Package, coreKeys, pins, breakGlass, lk.memo)
}

func evaluate(entries []Entry, eco, pkg string, coreKeys []string, pins map[string][]string, breakGlass bool, memo *release.SigMemo) (*PackageTrust, error) {
	nss := release.Namespaces(eco, pkg)
	if nss == nil {
		return nil, fmt.Errorf("evaluate: %w", release.ValidatePackage(eco, pkg))
	}
	kr, err := release.NewKeyring(eco, coreKeys, breakGlass)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s %s: %w", eco, pkg, err)
	}
	kr.UseMemo(memo)
	for _, ns := range nss {
		for _, vkey := range pins[ns] {
			if err := kr.Pin(ns, vkey); err != nil {
				return nil, fmt.Errorf("evaluate %s %s: %w", eco, pkg, err)
			}
		}
	}
	t := &PackageTrust{Ecosystem: eco, Package: pkg, Namespaces: nss,
		Statements: map[string]*VersionEvidence{}, Keys: map[string][]release.KeyInfo{}}

	// Statements are checked against the keys of their index as the loop
	// reaches them, and against revocations once every event is applied.
	var candidates []LoggedStatement
	for i, e := range entries {
		if i > 0 && e.Index <= entries[i-1].Index {
			return nil, fmt.Errorf("evaluate %s %s: entry %d follows entry %d: not in log order", eco, pkg, e.Index, entries[i-1].Index)
		}
		parsed, err := parseEntry(e)
		if err != nil {
			return nil, fmt.Errorf("evaluate %s %s: %w", eco, pkg, err)
		}
		switch v := parsed.(type) {
		case *release.KeyEvent:
			if v.Ecosystem != eco || !slices.Contains(nss, v.Namespace) {
				return nil, fmt.Errorf("evaluate %s %s: entry %d is a key event for %s %s, which does not govern the package",
					eco, pkg, e.Index, v.Ecosystem, v.Namespace)
			}
			if _, err := kr.ApplyEvent(e.Index, e.Note); err != nil {
				var bg *release.BreakGlassError
				t.Refused = append(t.Refused, RefusedEntry{Index: e.Index, Note: e.Note, Reason: err.Error(), BreakGlass: errors.As(err, &bg)})
			}
		case *release.Statement:
			if v.Ecosystem != eco || v.Package != pkg {
				return nil, fmt.Errorf("evaluate %s %s: entry %d is a statement for %s %s", eco, pkg, e.Index, v.Ecosystem, v.Package)
			}
			st, signers, err := kr.CheckStatement(e.Index, e.Note)
			if err != nil {
				t.Refused = append(t.Refused, RefusedEntry{Index: e.Index, Note: e.Note, Reason: err.Error(), Version: v.Version})
				continue
			}
			candidates = append(candidates, LoggedStatement{Index: e.Index, Note: e.Note, Statement: st, Signers: signers})
		}
	}

	equivocated := map[string]bool{}
	for _, c := range candidates {
		if err := kr.StatementValid(c.Index, pkg, c.Signers); err != nil {
			t.Refused = append(t.Refused, RefusedEntry{Index: c.Index, Note: c.Note, Reason: err.Error(), Version: c.Statement.Version})
			continue
		}
		v := c.Statement.Version
		ev := t.Statements[v]
		switch {
		case equivocated[v]:
			// Already reported against the first statement; further
			// conflicting ones add nothing a consumer acts on.
			t.Equivocations = appendEquivocation(t.Equivocations, v, c)
		case ev == nil:
			t.Statements[v] = &VersionEvidence{Statement: c.Statement, Entries: []LoggedStatement{c}}
		case *ev.Statement == *c.Statement:
			ev.Entries = append(ev.Entries, c)
		default:
			t.Equivocations = append(t.Equivocations, Equivocation{Version: v, First: ev.Entries[0], Second: c})
			equivocated[v] = true
			delete(t.Statements, v)
		}
	}
	slices.SortStableFunc(t.Refused, func(a, b RefusedEntry) int { return cmp.Compare(a.Index, b.Index) })
	for _, ns := range nss {
		if k := kr.Keys(ns); len(k) > 0 {
			t.Keys[ns] = k
		}
	}
	return t, nil
}

// appendEquivocation reports c against the first statement of version v
// when it differs from every statement already reported for v.
func appendEquivocation(eqs []Equivocation, v string, c LoggedStatement) []Equivocation {
	var first LoggedStatement
	for _, e := range eqs {
		if e.Version != v {
			continue
		}
		first = e.First
		if *e.First.Statement == *c.Statement || *e.Second.Statement == *c.Statement {
			return eqs
		}
	}
	return append(eqs, Equivocation{Version: v, First: first, Second: c})
}

// parseEntry reads an entry's note text as a statement or key event. Its
// signatures are the Keyring's business.
func parseEntry(e Entry) (any, error) {
	i := bytes.LastIndex(e.Note, []byte("\n\n"))
	if i < 0 {
		return nil, fmt.Errorf("entry %d is not a signed note", e.Index)
	}
	v, err := release.ParseText(e.Note[:i+1])
	if err != nil {
		return nil, fmt.Errorf("entry %d is not a sigil statement or key event: %w", e.Index, err)
	}
	return v, nil
}

func indentNote(n []byte) string {
	return "\t" + strings.ReplaceAll(strings.TrimSuffix(string(n), "\n"), "\n", "\n\t")
}
