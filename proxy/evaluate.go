package proxy

import (
	"bytes"
	"strings"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// evaluateLookup interprets the proven entries of a lookup with
// Lookup.Evaluate (which remembers verified signatures), under the policy's core keys, vendor key pins and the
// package's break-glass setting, and reduces the result to what the
// decision compares.
func (v *Verifier) evaluateLookup(lk *tlog.Lookup) *policy.Evidence {
	s := v.policy.For(lk.Package)
	t, err := lk.Evaluate(v.policy.CoreKeys[lk.Ecosystem], v.policy.VendorKeys, s.BreakGlass)
	if err != nil {
		return &policy.Evidence{Err: err, Namespaces: release.Namespaces(lk.Ecosystem, lk.Package)}
	}
	ev := &policy.Evidence{
		Namespaces: t.Namespaces,
		Statements: make(map[string]policy.Statement, len(t.Statements)),
	}
	for _, ns := range t.Namespaces {
		if len(t.Keys[ns]) > 0 {
			ev.Keyed = append(ev.Keyed, ns)
		}
	}
	for version, ve := range t.Statements {
		// Several entries with one content are one release logged twice;
		// the first is the evidence.
		first := ve.Entries[0]
		ev.Statements[version] = policy.Statement{
			Index:    first.Index,
			Signer:   keyIDs(first.Signers),
			Tree:     ve.Statement.Tree,
			Source:   ve.Statement.Source,
			Manifest: ve.Statement.Manifest,
			Archive:  ve.Statement.Archive,
		}
	}
	for version, o := range lk.Observations {
		if ev.Observations == nil {
			ev.Observations = make(map[string]policy.Observation, len(lk.Observations))
		}
		ev.Observations[version] = policy.Observation{Index: o.Index, Tree: o.Tree, Manifest: o.Manifest, Archive: o.Archive, Observed: o.Observed}
	}
	for _, eq := range t.Equivocations {
		if ev.Equivocations == nil {
			ev.Equivocations = make(map[string]policy.Equivocation)
		}
		if _, ok := ev.Equivocations[eq.Version]; !ok {
			ev.Equivocations[eq.Version] = policy.Equivocation{First: eq.First.Index, Second: eq.Second.Index}
		}
	}
	for _, r := range t.Refused {
		version, ok := statementVersion(r.Note)
		if !ok {
			continue // a refused key event: its effect shows in the statements
		}
		if ev.Rejected == nil {
			ev.Rejected = make(map[string][]string)
		}
		ev.Rejected[version] = append(ev.Rejected[version], r.Reason)
	}
	return ev
}

// statementVersion returns the version of a signed statement note, or false
// if the note is something else.
func statementVersion(signed []byte) (string, bool) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return "", false
	}
	st, err := release.ParseStatement(signed[:i+1])
	if err != nil {
		return "", false
	}
	return st.Version, true
}

// keyIDs names verifier keys by NAME+HASH, what a signature line shows: the
// key itself is long and adds nothing a person can check by eye.
func keyIDs(keys []string) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		name, rest, _ := strings.Cut(k, "+")
		hash, _, _ := strings.Cut(rest, "+")
		ids[i] = name + "+" + hash
	}
	return strings.Join(ids, ", ")
}
