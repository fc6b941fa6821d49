package release

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Authority says on whose authority a key was added, retired or revoked.
type Authority string

const (
	// ByPin: pinned by the user outside the log (Keyring.Pin).
	ByPin Authority = "pin"
	// ByNamespace: signed by a key active for the namespace or for one
	// that governs it.
	ByNamespace Authority = "namespace"
	// ByCore: signed by the ecosystem's core key while the namespace (and
	// those governing it) had no active key: ordinary bootstrapping.
	ByCore Authority = "core"
	// ByBreakGlass: signed by the core key alone over a namespace that had
	// active keys. Honoured only by keyrings that allow break-glass.
	ByBreakGlass Authority = "break-glass"
)

// KeyInfo is the history of one key in one namespace. A key both pinned
// and logged for a namespace has two KeyInfos: the pin and the log record.
type KeyInfo struct {
	Namespace string
	Key       string    // verifier key line
	AddedBy   Authority // ByPin for a pin, active from index 0
	AddedAt   uint64    // log index of the add event; 0 for a pin
	Retired   bool      // a pin is never retired
	RetiredAt uint64
	RetiredBy Authority
	Revoked   bool
	RevokedAt uint64
	RevokedBy Authority
}

// activeAt reports whether the key may sign an entry at log index idx: an
// entry after the add and before any retire or revoke.
func (ki *KeyInfo) activeAt(idx uint64) bool {
	return (ki.AddedBy == ByPin || idx > ki.AddedAt) &&
		!(ki.Retired && idx >= ki.RetiredAt) &&
		!(ki.Revoked && idx >= ki.RevokedAt)
}

// describe says why the key does or does not count at idx.
func (ki *KeyInfo) describe(idx uint64) string {
	switch {
	case ki.Revoked:
		return fmt.Sprintf("revoked in %s at index %d", ki.Namespace, ki.RevokedAt)
	case ki.Retired && idx >= ki.RetiredAt:
		return fmt.Sprintf("retired in %s at index %d", ki.Namespace, ki.RetiredAt)
	case ki.AddedBy != ByPin && idx <= ki.AddedAt:
		return fmt.Sprintf("added to %s only at index %d", ki.Namespace, ki.AddedAt)
	}
	return fmt.Sprintf("active in %s", ki.Namespace)
}

type record struct {
	KeyInfo
	v note.Verifier
}

// A Keyring is the key authority of one ecosystem, replayed from the key
// events of the release log in log order. The log server uses it to decide
// what to admit and the log client to decide what is valid; both call the
// same code on the same log and so agree.
//
// Rules, in log order (an entry at index i sees every event before i):
//   - A key is active for a namespace at index i if it was added at an
//     index before i (or pinned) and not retired or revoked at or before i.
//     Keys of a vendor or scope ("acme", "@acme") also count for its
//     packages ("acme/foo", "@acme/foo"); keys of a package only for it.
//   - A key event on namespace N must be signed by a key active for N or a
//     namespace governing N, or by a core key. Signed by core keys alone
//     while N or a governing namespace has an active key, it is break-glass:
//     applied only if the keyring allows break-glass, else refused with a
//     *BreakGlassError. Signed by core keys over a namespace without
//     active keys, it is ordinary bootstrapping.
//   - add: the key must not be active in N already, must never have been
//     retired from N (keys are not reused), and must not be revoked in N or
//     a namespace governing N (a revoked key never comes back).
//   - retire: the key must be logged and active in N. It signs nothing from
//     that index on; what it signed before stays valid.
//   - revoke: the key must be logged (or pinned) in N. It signs nothing from
//     that index on, and no statement for a package N governs counts its
//     signature, whenever logged. Revocation is scoped to N so that a
//     namespace's owner, who can add any public key to N, cannot invalidate
//     another namespace's statements by adding its key and revoking it.
//   - A statement is valid if at least one signer was active for one of
//     its package's namespaces at the statement's index and is revoked in
//     none of them.
//   - A pinned key (Pin) is the user's own trust, outside the log: active
//     from index 0 like a logged key, ended only by a logged revoke. Only
//     clients pin; pins can make a client see break-glass where the log
//     server saw bootstrapping, which is the point of pinning.
//   - All keys of a namespace are equal: any of them may retire or revoke
//     the others. A revoke does not undo events the revoked key signed;
//     keys a thief added must be revoked too (the log shows them).
//
// Keys are identified by their full verifier key line, never by name and
// hash alone: two keys that share both are two keys, and a signature counts
// for the key that verifies it.
//
// A Keyring is not safe for concurrent use.
type Keyring struct {
	eco        string
	breakGlass bool
	core       map[string]note.Verifier
	keys       map[string][]*record // by namespace: pins, then log order
	applied    bool                 // an event was applied: pins are closed
	last       uint64               // index of the last applied event
	memo       *SigMemo             // nil: every signature is checked
}

// NewKeyring returns the keyring of ecosystem eco before any log entry.
// coreKeys are the ecosystem's core verifier keys (none: only pinned and
// logged keys can authorize events). breakGlass says whether core-signed
// events over namespaces with active keys are honoured.
func NewKeyring(eco string, coreKeys []string, breakGlass bool) (*Keyring, error) {
	if err := checkEcosystem(eco); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	k := &Keyring{eco: eco, breakGlass: breakGlass, core: map[string]note.Verifier{}, keys: map[string][]*record{}}
	for _, key := range coreKeys {
		v, err := NewVerifier(key)
		if err != nil {
			return nil, fmt.Errorf("keyring: %s core key: %w", eco, err)
		}
		k.core[key] = v
	}
	return k, nil
}

// Ecosystem returns the keyring's ecosystem.
func (k *Keyring) Ecosystem() string { return k.eco }

// Pin makes vkey active for namespace from index 0, outside the log: the
// user's own trust, for `sigil verify` and the proxy's --vendor-key. A
// logged revoke of the key in the namespace (or one governing it) still
// kills it; a logged retire does not end a pin. Pins must come before the
// first ApplyEvent, since they change how every event is judged.
func (k *Keyring) Pin(namespace, vkey string) error {
	if err := ValidateNamespace(k.eco, namespace); err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("pin for %s: %w", namespace, err)
	}
	if k.applied {
		return fmt.Errorf("pin %s for %s: keys must be pinned before log entries are applied", keyID(vkey), namespace)
	}
	for _, r := range k.keys[namespace] {
		if r.Key == vkey {
			return nil
		}
	}
	k.keys[namespace] = append(k.keys[namespace], &record{KeyInfo{Namespace: namespace, Key: vkey, AddedBy: ByPin}, v})
	return nil
}

// Keys returns the history of every key of namespace (not of the
// namespaces governing it): pins first, then in log order.
func (k *Keyring) Keys(namespace string) []KeyInfo {
	var out []KeyInfo
	for _, r := range k.keys[namespace] {
		out = append(out, r.KeyInfo)
	}
	return out
}

// Keyed reports whether namespace has, or ever had, a key, logged or
// pinned. A namespace whose keys were all retired or revoked stays keyed:
// losing its keys must not turn a signed package into an unsigned one.
func (k *Keyring) Keyed(namespace string) bool {
	return len(k.keys[namespace]) > 0
}

// A BreakGlassError is a key event signed only by a core key over a
// namespace that has active keys, refused because the keyring does not
// allow break-glass. It carries what a caller needs to report it.
type BreakGlassError struct {
	Index  uint64
	Event  *KeyEvent
	Core   []string // core keys that signed the event
	Active []string // keys active for the namespace or a governing one
}

func (e *BreakGlassError) Error() string {
	return fmt.Sprintf("%s: break-glass refused: signed only by the %s core key %s while %s has active keys (%s), and break-glass is not allowed",
		eventPrefix(e.Index, e.Event), e.Event.Ecosystem, idList(e.Core), e.Event.Namespace, idList(e.Active))
}

// UseMemo makes the keyring check signatures through m, which may be
// shared with other keyrings: replaying the same notes again then costs no
// signature verification. Which keys count at which index is still decided
// by the keyring on every check.
func (k *Keyring) UseMemo(m *SigMemo) { k.memo = m }

// CheckEvent reports whether ApplyEvent would apply the signed key event
// at index idx, without changing the keyring. It returns the event and the
// keys whose signatures authorize it (namespace or core keys), sorted.
func (k *Keyring) CheckEvent(idx uint64, signedNote []byte) (*KeyEvent, []string, error) {
	ev, _, signed, err := k.checkEvent(idx, signedNote)
	return ev, signed, err
}

// ApplyEvent checks the signed key event logged at index idx against the
// rules (see Keyring) and applies it. Events must come in log order:
// idx must be above every index applied before. A refused event changes
// nothing, so a log server may refuse it and reuse idx.
func (k *Keyring) ApplyEvent(idx uint64, signedNote []byte) (*KeyEvent, error) {
	ev, by, _, err := k.checkEvent(idx, signedNote)
	if err != nil {
		return nil, err
	}
	k.applied, k.last = true, idx
	switch ev.Action {
	case ActionAdd:
		v, _ := NewVerifier(ev.Key) // checked by ParseKeyEvent
		k.keys[ev.Namespace] = append(k.keys[ev.Namespace],
			&record{KeyInfo{Namespace: ev.Namespace, Key: ev.Key, AddedBy: by, AddedAt: idx}, v})
	case ActionRetire:
		r := k.logged(ev.Namespace, ev.Key)
		r.Retired, r.RetiredAt, r.RetiredBy = true, idx, by
	case ActionRevoke:
		for _, r := range k.keys[ev.Namespace] {
			if r.Key == ev.Key {
				r.Revoked, r.RevokedAt, r.RevokedBy = true, idx, by
			}
		}
	}
	return ev, nil
}

func (k *Keyring) checkEvent(idx uint64, msg []byte) (*KeyEvent, Authority, []string, error) {
	if k.applied && idx <= k.last {
		return nil, "", nil, fmt.Errorf("key event at index %d: not in log order (the last event applied was at index %d)", idx, k.last)
	}
	text, sigs, err := splitNote(msg)
	if err != nil {
		return nil, "", nil, fmt.Errorf("key event at index %d: %w", idx, err)
	}
	ev, err := ParseKeyEvent(text)
	if err != nil {
		return nil, "", nil, fmt.Errorf("index %d: %w", idx, err)
	}
	prefix := eventPrefix(idx, ev)
	if ev.Ecosystem != k.eco {
		return nil, "", nil, fmt.Errorf("%s: event is for %s, keyring for %s", prefix, ev.Ecosystem, k.eco)
	}
	nss := governing(k.eco, ev.Namespace)
	active := k.active(nss, idx)
	cands := union(active, k.core)
	signed, err := verifySigs(msg, cands, k.memo)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: %w", prefix, err)
	}
	var byNS, byCore []string
	for _, key := range signed {
		if _, ok := active[key]; ok {
			byNS = append(byNS, key)
		} else {
			byCore = append(byCore, key)
		}
	}
	var by Authority
	switch {
	case len(byNS) > 0:
		by = ByNamespace
	case len(byCore) > 0 && len(active) == 0:
		by = ByCore
	case len(byCore) > 0:
		by = ByBreakGlass
	default:
		return nil, "", nil, fmt.Errorf("%s: not signed by a key active for %s or by a %s core key; signatures: %s",
			prefix, orList(nss), k.eco, k.describeSigs(sigs, nss, idx, true))
	}
	// An event that would be refused anyway is not reported as break-glass:
	// callers record break-glass refusals as such.
	if err := k.checkAction(ev, nss); err != nil {
		return nil, "", nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if by == ByBreakGlass && !k.breakGlass {
		return nil, "", nil, &BreakGlassError{Index: idx, Event: ev, Core: byCore, Active: sortedKeys(active)}
	}
	return ev, by, signed, nil
}

// checkAction checks that the event makes sense for the state of the key.
func (k *Keyring) checkAction(ev *KeyEvent, nss []string) error {
	id, ns := keyID(ev.Key), ev.Namespace
	switch ev.Action {
	case ActionAdd:
		if r := k.revocation(nss, ev.Key); r != nil {
			return fmt.Errorf("key %s was revoked in %s at index %d; a revoked key is never added again", id, r.Namespace, r.RevokedAt)
		}
		if r := k.logged(ns, ev.Key); r != nil {
			if r.Retired {
				return fmt.Errorf("key %s was retired from %s at index %d; keys are not reused, add a new one", id, ns, r.RetiredAt)
			}
			return fmt.Errorf("key %s is already active in %s since index %d", id, ns, r.AddedAt)
		}
	case ActionRetire:
		r := k.logged(ns, ev.Key)
		switch {
		case r == nil && slices.ContainsFunc(k.keys[ns], func(r *record) bool { return r.Key == ev.Key }):
			return fmt.Errorf("key %s is only pinned for %s, not logged; there is nothing to retire", id, ns)
		case r == nil:
			return fmt.Errorf("key %s is not a key of %s", id, ns)
		case r.Revoked:
			return fmt.Errorf("key %s was already revoked in %s at index %d", id, ns, r.RevokedAt)
		case r.Retired:
			return fmt.Errorf("key %s was already retired from %s at index %d", id, ns, r.RetiredAt)
		}
	case ActionRevoke:
		found := false
		for _, r := range k.keys[ns] {
			if r.Key != ev.Key {
				continue
			}
			if r.Revoked {
				return fmt.Errorf("key %s was already revoked in %s at index %d", id, ns, r.RevokedAt)
			}
			found = true
		}
		if !found {
			return fmt.Errorf("key %s is not a key of %s", id, ns)
		}
	}
	return nil
}

// CheckStatement checks a signed release statement logged at index idx:
// it must be for the keyring's ecosystem and signed by at least one key
// active at idx for a namespace governing its package. It returns the
// statement and the keys whose signatures count, sorted. It changes
// nothing, and its answer accounts for the events applied so far: check a
// statement after applying every event logged before it. Revocations
// logged after idx are StatementValid's business.
func (k *Keyring) CheckStatement(idx uint64, signedNote []byte) (*Statement, []string, error) {
	text, sigs, err := splitNote(signedNote)
	if err != nil {
		return nil, nil, fmt.Errorf("statement at index %d: %w", idx, err)
	}
	st, err := ParseStatement(text)
	if err != nil {
		return nil, nil, fmt.Errorf("index %d: %w", idx, err)
	}
	if st.Ecosystem != k.eco {
		return nil, nil, fmt.Errorf("statement at index %d: for %s, keyring for %s", idx, st.Ecosystem, k.eco)
	}
	nss := governing(k.eco, st.Package)
	signed, err := verifySigs(signedNote, k.active(nss, idx), k.memo)
	if err != nil {
		return nil, nil, fmt.Errorf("statement at index %d: %w", idx, err)
	}
	if len(signed) == 0 {
		if !slices.ContainsFunc(nss, k.Keyed) {
			return nil, nil, fmt.Errorf("statement at index %d: no key is registered for %s", idx, orList(nss))
		}
		return nil, nil, fmt.Errorf("statement at index %d: not signed by a key active for %s at that index; signatures: %s",
			idx, orList(nss), k.describeSigs(sigs, nss, idx, false))
	}
	return st, signed, nil
}

// StatementValid reports whether a statement for pkg logged at index idx
// and signed by signers (as CheckStatement returned them) is valid given
// every event applied so far: at least one signer was active for one of
// pkg's namespaces at idx and is revoked in none of them, then or since.
func (k *Keyring) StatementValid(idx uint64, pkg string, signers []string) error {
	nss := Namespaces(k.eco, pkg)
	if nss == nil {
		return fmt.Errorf("statement at index %d: %w", idx, ValidatePackage(k.eco, pkg))
	}
	if len(signers) == 0 {
		return fmt.Errorf("statement at index %d: no signers", idx)
	}
	active := k.active(nss, idx)
	var why []string
	for _, key := range signers {
		if r := k.revocation(nss, key); r != nil {
			why = append(why, fmt.Sprintf("%s was revoked in %s at index %d", keyID(key), r.Namespace, r.RevokedAt))
			continue
		}
		if _, ok := active[key]; !ok {
			why = append(why, fmt.Sprintf("%s was not active for %s at index %d", keyID(key), orList(nss), idx))
			continue
		}
		return nil
	}
	return fmt.Errorf("statement at index %d is not valid: %s", idx, strings.Join(why, "; "))
}

// active returns the keys active at idx for any of nss and revoked, at or
// before idx, in none of them.
func (k *Keyring) active(nss []string, idx uint64) map[string]note.Verifier {
	out := map[string]note.Verifier{}
	for _, ns := range nss {
		for _, r := range k.keys[ns] {
			if r.activeAt(idx) {
				out[r.Key] = r.v
			}
		}
	}
	for _, ns := range nss {
		for _, r := range k.keys[ns] {
			if r.Revoked && r.RevokedAt <= idx {
				delete(out, r.Key)
			}
		}
	}
	return out
}

// revocation returns a record showing key revoked in one of nss, or nil.
func (k *Keyring) revocation(nss []string, key string) *record {
	for _, ns := range nss {
		for _, r := range k.keys[ns] {
			if r.Key == key && r.Revoked {
				return r
			}
		}
	}
	return nil
}

// logged returns the log record of key in ns, or nil. There is at most
// one: add refuses keys already logged in ns.
func (k *Keyring) logged(ns, key string) *record {
	for _, r := range k.keys[ns] {
		if r.Key == key && r.AddedBy != ByPin {
			return r
		}
	}
	return nil
}

// describeSigs explains, for an error, what each signature line of a note
// claims and why it does not count.
func (k *Keyring) describeSigs(sigs []noteSig, nss []string, idx uint64, coreCounts bool) string {
	var parts []string
	for _, s := range sigs {
		id := sigID(s.name, s.hash)
		var why []string
		for _, ns := range nss {
			for _, r := range k.keys[ns] {
				if keyID(r.Key) == id {
					why = append(why, r.describe(idx))
				}
			}
		}
		for key := range k.core {
			if keyID(key) == id && !coreCounts {
				why = append(why, k.eco+" core key, which signs key events, not releases")
			}
		}
		if len(why) == 0 {
			why = append(why, "not a key of "+orList(nss))
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", id, strings.Join(why, "; ")))
	}
	return strings.Join(parts, ", ")
}

func eventPrefix(idx uint64, ev *KeyEvent) string {
	return fmt.Sprintf("key event at index %d (%s %s in %s %s)", idx, ev.Action, keyID(ev.Key), ev.Ecosystem, ev.Namespace)
}

func union(a, b map[string]note.Verifier) map[string]note.Verifier {
	out := make(map[string]note.Verifier, len(a)+len(b))
	for k, v := range b {
		out[k] = v
	}
	for k, v := range a {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]note.Verifier) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func idList(keys []string) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = keyID(k)
	}
	return strings.Join(ids, ", ")
}

func orList(nss []string) string { return strings.Join(nss, " or ") }
