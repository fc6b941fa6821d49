package server

import (
	"context"
	"testing"

	"github.com/sigilproxy/sigil/internal/witnesstest"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

// TestVerifyingClient checks the wire contract end to end: the project's
// verifying client (package tlog), configured with the log key and both
// witnesses, accepts the server's checkpoints and lookups as the log grows,
// and judges the entries as the server admitted them.
func TestVerifyingClient(t *testing.T) {
	var ws []*witnesstest.Witness
	tl := newTestLog(t, withWitnesses(t, &ws, 2, 0))
	cfg := tlog.Config{
		URL:    tl.http.URL,
		LogKey: tl.srv.VerifierKey(),
		Store:  &tlogtest.Store{},
		Logger: testLogger(t),
	}
	for _, w := range ws {
		cfg.Witnesses = append(cfg.Witnesses, w.VerifierKey())
	}
	client, err := tlog.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	vendor, ci := newKey(t, "acme"), newKey(t, "acme-ci")
	const eco, pkg = release.Composer, "acme/foo"
	core := []string{tl.core.vkey}

	tl.add(keyEvent(t, eco, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	tl.add(statement(t, eco, pkg, "v1.0.0", 1, vendor.signer))
	lk, err := client.Lookup(ctx, eco, pkg)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if len(lk.Entries) != 2 {
		t.Fatalf("lookup has %d entries; want 2", len(lk.Entries))
	}

	// The log grows, across a restart: the client proves consistency with
	// what it stored.
	tl.add(keyEvent(t, eco, pkg, release.ActionAdd, ci.vkey, vendor.signer))
	tl.add(statement(t, eco, pkg, "v1.1.0", 2, ci.signer))
	tl.reopen()
	tl.add(keyEvent(t, eco, pkg, release.ActionRetire, ci.vkey, vendor.signer))
	tl.add(statement(t, eco, pkg, "v1.2.0", 3, vendor.signer))
	lk, err = client.Lookup(ctx, eco, pkg)
	if err != nil {
		t.Fatalf("Lookup after growth and restart: %v", err)
	}
	trust, err := tlog.Evaluate(lk.Entries, eco, pkg, core, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		if trust.Statements[v] == nil {
			t.Errorf("client finds no valid statement for %s", v)
		}
	}
	if len(trust.Refused) != 0 || len(trust.Equivocations) != 0 {
		t.Errorf("client refuses %v, equivocations %v, of entries the server admitted", trust.Refused, trust.Equivocations)
	}
}
