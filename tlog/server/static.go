package server

import (
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/transparency-dev/tessera/api/layout"
)

// Cache lifetimes of the static read API. The checkpoint changes with every
// publication (tlog-tiles: "SHOULD prevent caching beyond a few seconds");
// tiles and entry bundles never change once written, partial ones included:
// a partial tile is a different path from the full one.
const (
	checkpointCacheControl = "no-cache"
	tileCacheControl       = "public, max-age=31536000, immutable"
)

// staticHandler serves the C2SP tlog-tiles read API from Tessera's POSIX
// storage directory: /checkpoint, /tile/<L>/<N>[.p/<W>] and
// /tile/entries/<N>[.p/<W>]. Only paths in the spec's canonical form are
// served; everything else is 404, so neither Tessera's private state
// (.state/), nor the index, nor the temporary files Tessera writes beside
// tiles are ever reachable. Files are opened through an os.Root, which also
// refuses symlinks that lead out of the directory.
type staticHandler struct {
	root *os.Root
}

// serveCheckpoint answers without Last-Modified and conditional requests:
// the checkpoint changes several times a second, more often than
// If-Modified-Since can tell apart, and a stale 304 would hide new entries.
func (h *staticHandler) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := h.root.ReadFile(layout.CheckpointPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "cannot read the checkpoint", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", checkpointCacheControl)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(cp)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(cp)
}

func (h *staticHandler) serveTile(w http.ResponseWriter, r *http.Request) {
	p, entries, ok := canonicalTilePath(strings.TrimPrefix(r.URL.Path, "/"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.serveFile(w, r, p, "application/octet-stream", tileCacheControl, entries)
}

// serveFile answers GET and HEAD with the file at name (relative to the
// root). Entry bundles are gzip-compressed when the client accepts it, as
// tlog-tiles recommends.
func (h *staticHandler) serveFile(w http.ResponseWriter, r *http.Request, name, ctype, cacheControl string, compress bool) {
	f, err := h.root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "cannot read log resource", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if compress {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			hdr.Set("Content-Encoding", "gzip")
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodHead {
				return
			}
			zw := gzip.NewWriter(w)
			if _, err := io.Copy(zw, f); err != nil {
				return
			}
			_ = zw.Close()
			return
		}
	}
	// ServeContent handles HEAD, ranges and conditional requests; the
	// Content-Type set above keeps it from sniffing.
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip
// with a non-zero quality.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
				continue
			}
			q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
			if !ok {
				return true
			}
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
	}
	return false
}

// canonicalTilePath checks that p (without the leading slash) is a tile or
// entry bundle path exactly as C2SP tlog-tiles writes it: level 0-63 without
// leading zeros, index in zero-padded groups of three with "x" on all but
// the last, optional ".p/<W>" with W in 1-255 without leading zeros. It
// returns the path to open and whether it is an entry bundle.
func canonicalTilePath(p string) (string, bool, bool) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return "", false, false
	}
	first, index, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false, false
	}
	n, w, err := layout.ParseTileIndexPartial(index)
	if err != nil {
		return "", false, false
	}
	if first == "entries" {
		if layout.EntriesPath(n, w) != p {
			return "", false, false
		}
		return p, true, true
	}
	level, err := strconv.ParseUint(first, 10, 8)
	if err != nil || level > 63 {
		return "", false, false
	}
	if layout.TilePath(level, n, w) != p {
		return "", false, false
	}
	return p, false, true
}
