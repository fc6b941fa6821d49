package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
)

// rememberedFile is the file in the cache directory that keeps the
// upstream each ecosystem was last served from.
const rememberedFile = "upstreams.json"

// upstreamMemory keeps, in the cache directory, the upstream of each
// ecosystem that serve last followed. A user who follows the README points
// the client's own configuration at sigil (npm config set registry ...);
// the next serve would then find sigil itself there, and without the
// remembered upstream would mirror nothing. A flag always wins over it.
type upstreamMemory struct {
	path string
}

func newUpstreamMemory(cacheDir string) *upstreamMemory {
	return &upstreamMemory{path: filepath.Join(cacheDir, rememberedFile)}
}

func (m *upstreamMemory) load() (map[string]string, error) {
	b, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	var all map[string]string
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", m.path, err)
	}
	if all == nil {
		all = map[string]string{}
	}
	return all, nil
}

// remember keeps the upstreams serve follows (by flag name; nil ones are
// not known and change nothing) for the next run.
func remember(mem *upstreamMemory, logger *slog.Logger, upstreams map[string]*url.URL) {
	for name, u := range upstreams {
		if u == nil {
			continue
		}
		if err := mem.set(name, u.String()); err != nil {
			logger.Warn("the upstream cannot be remembered for the next run", "url", u.String(), "err", err)
		}
	}
}

// get returns the upstream remembered under name ("npm-upstream"), or "".
func (m *upstreamMemory) get(name string) (string, error) {
	if m == nil {
		return "", nil
	}
	all, err := m.load()
	return all[name], err
}

// set remembers url under name, replacing the file atomically (a crash
// leaves the old file or the new one).
func (m *upstreamMemory) set(name, url string) error {
	if m == nil {
		return nil
	}
	all, err := m.load()
	if err != nil {
		all = map[string]string{} // a broken file is replaced
	}
	if all[name] == url {
		return nil
	}
	all[name] = url
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.path), rememberedFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), m.path)
}
