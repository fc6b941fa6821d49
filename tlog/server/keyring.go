package server

import (
	"slices"

	"github.com/sigilproxy/sigil/release"
)

// authority decides which signers the log admits for one ecosystem. It
// replays the key events into two keyrings: one that honours break-glass
// (core-signed changes of a namespace with active keys) and one that
// does not. Clients choose their side (--break-glass), so a key event is
// admitted when either keyring finds a signature by a key authorized at
// its place in the log: a client that refuses break-glass must see its
// vendor's own key events, such as a vendor's revoke after an identical
// core-signed one. Statements are admitted by the break-glass keyring
// alone: a key the core key revoked must not be able to claim versions
// (the first statement of a version is the only content it may have).
type authority struct {
	open, strict *release.Keyring
}

// newAuthorities returns one fresh authority per ecosystem, rooted in the
// core keys for that ecosystem and those for every ecosystem.
func newAuthorities(core []CoreKey) (map[string]*authority, error) {
	out := make(map[string]*authority, len(ecosystems))
	for _, eco := range ecosystems {
		var keys []string
		for _, ck := range core {
			if ck.Ecosystem == "" || ck.Ecosystem == eco {
				keys = append(keys, ck.Key)
			}
		}
		open, err := release.NewKeyring(eco, keys, true)
		if err != nil {
			return nil, err
		}
		strict, err := release.NewKeyring(eco, keys, false)
		if err != nil {
			return nil, err
		}
		out[eco] = &authority{open: open, strict: strict}
	}
	return out, nil
}

// checkStatement returns the keys whose signatures authorize the signed
// statement at index idx, or why none does.
func (a *authority) checkStatement(idx uint64, msg []byte) ([]string, error) {
	_, signers, err := a.open.CheckStatement(idx, msg)
	return signers, err
}

// checkEvent returns the keys whose signatures authorize the signed key
// event at index idx under either keyring, or the break-glass keyring's
// reason for refusing it (what a default client sees).
func (a *authority) checkEvent(idx uint64, msg []byte) ([]string, error) {
	_, s1, err1 := a.open.CheckEvent(idx, msg)
	_, s2, err2 := a.strict.CheckEvent(idx, msg)
	if err1 != nil && err2 != nil {
		return nil, err1
	}
	out := append(s1, s2...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// apply applies a logged key event to both keyrings; each takes it or
// leaves it by its own rules. It fails only when neither takes it.
func (a *authority) apply(idx uint64, msg []byte) error {
	_, err1 := a.open.ApplyEvent(idx, msg)
	_, err2 := a.strict.ApplyEvent(idx, msg)
	if err1 != nil && err2 != nil {
		return err1
	}
	return nil
}
