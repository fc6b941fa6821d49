package server

import "github.com/sigilproxy/sigil/release"

// newKeyrings returns one fresh keyring per ecosystem, rooted in the core
// keys for that ecosystem and those for every ecosystem. Break-glass
// events (core-signed changes of a namespace that has active keys) are
// admitted: they are logged for everyone to see, and each client decides
// whether to honour them.
func newKeyrings(core []CoreKey) (map[string]*release.Keyring, error) {
	krs := make(map[string]*release.Keyring, len(ecosystems))
	for _, eco := range ecosystems {
		var keys []string
		for _, ck := range core {
			if ck.Ecosystem == "" || ck.Ecosystem == eco {
				keys = append(keys, ck.Key)
			}
		}
		kr, err := release.NewKeyring(eco, keys, true)
		if err != nil {
			return nil, err
		}
		krs[eco] = kr
	}
	return krs, nil
}
