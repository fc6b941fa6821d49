package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/certs"
	"github.com/sigilproxy/sigil/internal/egress"
	"github.com/sigilproxy/sigil/proxy/observe"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog/server"
)

// observeConfig turns --observe and --archive-host into the log's
// Observer. The registries' own hosts and --archive-host are named hosts
// of the outbound policy; the conventional code hosts are fetched from
// public addresses only; the log's own listen address never.
func observeConfig(c *cli.Context, cfg *server.Config) error {
	vals := nonEmpty(c.StringSlice("observe"))
	if len(vals) == 0 {
		if len(nonEmpty(c.StringSlice("archive-host"))) > 0 {
			return usageError("--archive-host without --observe", "the log fetches archives only for the registries it observes")
		}
		return nil
	}
	regs := map[string]string{}
	var named []string
	for _, v := range vals {
		eco, raw, ok := strings.Cut(v, "=")
		u, err := url.Parse(raw)
		switch {
		case !ok || (eco != release.Composer && eco != release.NPM):
			return usageError(fmt.Sprintf("--observe %q: want composer=URL or npm=URL", v), "")
		case regs[eco] != "":
			return usageError(fmt.Sprintf("--observe: %s given twice", eco), "the log observes one registry per ecosystem")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return usageError(fmt.Sprintf("--observe %q: %s is not an http(s) URL", v, raw), "")
		}
		regs[eco] = raw
		named = append(named, u.Host)
	}
	for _, h := range nonEmpty(c.StringSlice("archive-host")) {
		hosts, err := egress.ParseHost(h)
		if err != nil {
			return usageError(fmt.Sprintf("--archive-host %q: %v", h, err), "")
		}
		named = append(named, hosts...)
	}
	pol, err := egress.New(egress.Config{Named: named, Conventional: certs.DefaultArchiveHosts, Self: logSelf(c)})
	if err != nil {
		return usageError(fmt.Sprintf("--observe: %v", err), "")
	}
	o, err := observe.New(observe.Config{Registries: regs, Client: pol.Client()})
	if err != nil {
		return usageError(err.Error(), "")
	}
	cfg.Observer = o
	return nil
}
