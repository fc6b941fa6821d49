package tlog_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

type party struct {
	vkey string
	s    note.Signer
}

func newParty(t testing.TB, name string) party {
	t.Helper()
	skey, vkey, err := release.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := release.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return party{vkey, s}
}

func signText(t testing.TB, text []byte, by []party) []byte {
	t.Helper()
	var signers []note.Signer
	for _, p := range by {
		signers = append(signers, p.s)
	}
	msg, err := release.Sign(text, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func keyEvent(t testing.TB, ns string, action release.Action, key string, by ...party) []byte {
	t.Helper()
	text, err := (&release.KeyEvent{Ecosystem: release.Composer, Namespace: ns, Action: action, Key: key}).Text()
	if err != nil {
		t.Fatal(err)
	}
	return signText(t, text, by)
}

// statement signs a statement of pkg at version whose tree hash is
// derived from content, so that different content makes different
// statements.
func statement(t testing.TB, pkg, version, content string, by ...party) []byte {
	t.Helper()
	tree := sha256.Sum256([]byte(content))
	st := &release.Statement{Ecosystem: release.Composer, Package: pkg, Version: version,
		Tree:     "h1:" + base64.StdEncoding.EncodeToString(tree[:]),
		Manifest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("{}")))}
	text, err := st.Text()
	if err != nil {
		t.Fatal(err)
	}
	return signText(t, text, by)
}

// entries numbers notes from index 0, skipping gaps, as a lookup would see
// them among other packages' entries.
func entries(notes ...[]byte) []tlog.Entry {
	var out []tlog.Entry
	for i, n := range notes {
		if n != nil {
			out = append(out, tlog.Entry{Index: uint64(i), Note: n})
		}
	}
	return out
}

func versions(pt *tlog.PackageTrust) string {
	var v []string
	for k := range pt.Statements {
		v = append(v, k)
	}
	slices.Sort(v)
	return strings.Join(v, " ")
}

// refused lists the refused entries as INDEX, then "!" for a refused
// break-glass event and "@VERSION" for a statement.
func refused(pt *tlog.PackageTrust) string {
	var r []string
	for _, e := range pt.Refused {
		s := fmt.Sprint(e.Index)
		if e.BreakGlass {
			s += "!"
		}
		if e.Version != "" {
			s += "@" + e.Version // a statement's
		}
		r = append(r, s)
	}
	return strings.Join(r, " ")
}

func TestEvaluateKeysAndStatements(t *testing.T) {
	core, a, b, evil := newParty(t, "packagist-core"), newParty(t, "acme"), newParty(t, "acme-ci"), newParty(t, "evil")
	es := entries(
		keyEvent(t, "acme", release.ActionAdd, a.vkey, core), // 0: bootstrapping
		statement(t, "acme/foo", "1.0.0", "one", a),          // 1
		statement(t, "acme/foo", "1.1.0", "evil", evil),      // 2: no valid key
		keyEvent(t, "acme", release.ActionAdd, b.vkey, a),    // 3
		statement(t, "acme/foo", "1.2.0", "two", b),          // 4
		keyEvent(t, "acme", release.ActionRetire, a.vkey, b), // 5
		statement(t, "acme/foo", "1.3.0", "three", a),        // 6: a retired
		nil,
		statement(t, "acme/foo", "1.4.0", "four", a, b), // 8: b counts
	)
	pt, err := tlog.Evaluate(es, release.Composer, "acme/foo", []string{core.vkey}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(pt); got != "1.0.0 1.2.0 1.4.0" {
		t.Errorf("valid versions %q", got)
	}
	if got := refused(pt); got != "2@1.1.0 6@1.3.0" {
		t.Errorf("refused %q", got)
	}
	if !strings.Contains(pt.Refused[1].Reason, "retired") {
		t.Errorf("refusal of 6: %s", pt.Refused[1].Reason)
	}
	k := pt.Keys["acme"]
	if len(k) != 2 || k[0].AddedBy != release.ByCore || !k[0].Retired || k[0].RetiredAt != 5 || k[1].AddedBy != release.ByNamespace {
		t.Errorf("keys of acme: %+v", k)
	}
	if !pt.Keyed() || len(pt.Equivocations) != 0 {
		t.Errorf("keyed %v, %d equivocations", pt.Keyed(), len(pt.Equivocations))
	}
	if ev := pt.Statements["1.4.0"]; ev == nil || ev.Entries[0].Index != 8 || !slices.Equal(ev.Entries[0].Signers, []string{b.vkey}) {
		t.Errorf("evidence for 1.4.0: %+v", ev)
	}
}

func TestEvaluateRevoke(t *testing.T) {
	core, a, b := newParty(t, "core"), newParty(t, "acme"), newParty(t, "acme2")
	es := entries(
		keyEvent(t, "acme", release.ActionAdd, a.vkey, core),
		statement(t, "acme/foo", "1.0.0", "one", a),
		keyEvent(t, "acme/foo", release.ActionAdd, b.vkey, a), // package-level key
		statement(t, "acme/foo", "1.1.0", "two", b),
		statement(t, "acme/foo", "1.2.0", "three", a, b),
		keyEvent(t, "acme", release.ActionRevoke, a.vkey, a), // stolen: everything a alone signed goes
	)
	pt, err := tlog.Evaluate(es, release.Composer, "acme/foo", []string{core.vkey}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(pt); got != "1.1.0 1.2.0" {
		t.Errorf("valid versions %q", got)
	}
	if got := refused(pt); got != "1@1.0.0" || !strings.Contains(pt.Refused[0].Reason, "revoked") {
		t.Errorf("refused %q: %+v", got, pt.Refused)
	}
	if len(pt.Keys["acme"]) != 1 || !pt.Keys["acme"][0].Revoked || len(pt.Keys["acme/foo"]) != 1 {
		t.Errorf("keys %+v", pt.Keys)
	}
}

func TestEvaluateBreakGlass(t *testing.T) {
	core, a, c := newParty(t, "core"), newParty(t, "acme"), newParty(t, "rescue")
	es := entries(
		keyEvent(t, "acme", release.ActionAdd, a.vkey, core),
		keyEvent(t, "acme", release.ActionAdd, c.vkey, core), // break-glass: acme has a key
		statement(t, "acme/foo", "2.0.0", "by the rescue key", c),
	)
	pt, err := tlog.Evaluate(es, release.Composer, "acme/foo", []string{core.vkey}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := refused(pt); got != "1! 2@2.0.0" || versions(pt) != "" {
		t.Errorf("without break-glass: refused %q, versions %q", got, versions(pt))
	}
	pt, err = tlog.Evaluate(es, release.Composer, "acme/foo", []string{core.vkey}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if refused(pt) != "" || versions(pt) != "2.0.0" || pt.Keys["acme"][1].AddedBy != release.ByBreakGlass {
		t.Errorf("with break-glass: refused %q, versions %q, keys %+v", refused(pt), versions(pt), pt.Keys["acme"])
	}
}

func TestEvaluateEquivocation(t *testing.T) {
	core, a, b := newParty(t, "core"), newParty(t, "acme"), newParty(t, "acme2")
	es := entries(
		keyEvent(t, "acme", release.ActionAdd, a.vkey, core),
		keyEvent(t, "acme", release.ActionAdd, b.vkey, a),
		statement(t, "acme/foo", "1.0.0", "one", a),
		statement(t, "acme/foo", "1.0.0", "one", b), // same content, other key: agrees
		statement(t, "acme/foo", "1.0.0", "other", b),
		statement(t, "acme/foo", "1.0.0", "third", a),
		statement(t, "acme/foo", "1.0.0", "other", a), // repeats a reported conflict
		statement(t, "acme/foo", "1.1.0", "fine", a),
	)
	pt, err := tlog.Evaluate(es, release.Composer, "acme/foo", []string{core.vkey}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if versions(pt) != "1.1.0" {
		t.Errorf("valid versions %q; the equivocated one must not be among them", versions(pt))
	}
	if len(pt.Equivocations) != 2 {
		t.Fatalf("equivocations: %+v", pt.Equivocations)
	}
	e := pt.Equivocations[0]
	if e.Version != "1.0.0" || e.First.Index != 2 || e.Second.Index != 4 || pt.Equivocations[1].Second.Index != 5 {
		t.Errorf("equivocation %d vs %d, then %d vs %d", e.First.Index, e.Second.Index, pt.Equivocations[1].First.Index, pt.Equivocations[1].Second.Index)
	}
	s := e.String()
	if !strings.Contains(s, "index 2:\n\tsigil-release/v1") || !strings.Contains(s, "index 4:\n\tsigil-release/v1") {
		t.Errorf("equivocation text lacks both notes:\n%s", s)
	}
}

func TestEvaluatePins(t *testing.T) {
	a, other := newParty(t, "acme"), newParty(t, "other")
	es := entries(
		statement(t, "acme/foo", "1.0.0", "one", a),
		statement(t, "acme/foo", "1.1.0", "two", other),
	)
	pins := map[string][]string{"acme": {a.vkey}, "zzz": {other.vkey}}
	pt, err := tlog.Evaluate(es, release.Composer, "acme/foo", nil, pins, true)
	if err != nil {
		t.Fatal(err)
	}
	if versions(pt) != "1.0.0" || refused(pt) != "1@1.1.0" || pt.Keys["acme"][0].AddedBy != release.ByPin || pt.Keys["zzz"] != nil {
		t.Errorf("versions %q, refused %q, keys %+v", versions(pt), refused(pt), pt.Keys)
	}

	pt, err = tlog.Evaluate(nil, release.Composer, "acme/foo", nil, nil, true)
	if err != nil || pt.Keyed() || len(pt.Statements) != 0 {
		t.Errorf("empty log: %+v, %v; want an unsigned package", pt, err)
	}
}

func TestEvaluateRefusesForeignEntries(t *testing.T) {
	core, a := newParty(t, "core"), newParty(t, "acme")
	add := keyEvent(t, "acme", release.ActionAdd, a.vkey, core)
	for _, tc := range []struct {
		name    string
		entries []tlog.Entry
		pkg     string
		want    string
	}{
		{"OtherPackage", entries(add, statement(t, "acme/bar", "1.0.0", "x", a)), "acme/foo", "entry 1 is a statement for composer acme/bar"},
		{"OtherNamespace", entries(keyEvent(t, "other", release.ActionAdd, a.vkey, core)), "acme/foo", "entry 0 is a key event for composer other"},
		{"NotANote", []tlog.Entry{{Index: 3, Note: []byte("hello")}}, "acme/foo", "entry 3 is not a signed note"},
		{"NotSigil", []tlog.Entry{{Index: 3, Note: []byte("hello\n\n— x AAAAAAAA\n")}}, "acme/foo", "entry 3 is not a sigil statement or key event"},
		{"Order", []tlog.Entry{{Index: 3, Note: add}, {Index: 3, Note: add}}, "acme/foo", "not in log order"},
		{"BadPackage", nil, "Acme/Foo", "invalid composer package name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlog.Evaluate(tc.entries, release.Composer, tc.pkg, []string{core.vkey}, nil, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Evaluate: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
