#!/usr/bin/env bash
# The micro-benchmarks of sigil's hot paths (make bench-go), for a user to
# run on their machine:
#   - the whole sigil serve process over loopback against a static file
#     server: metadata of a package with 500 versions, a cached 64 MiB archive;
#   - warm metadata through the real upstream and verifier over loopback,
#     against a static server: a 500-version p2 document at 8 clients
#     (p50, p99), a 21 MB packument;
#   - the verifier: cached and cold archives (cold against a plain reverse
#     proxy), 500 verdicts;
#   - the tree hash against plain sha256 of the same bytes;
#   - the release log: admission rate, lookup and full client verification.
# COUNT=N repeats each (feed the output to benchstat to compare runs).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
COUNT=${COUNT:-1}
GO=${GO:-go}
run() { "$GO" test -run '^$' -benchmem -count "$COUNT" "$@"; }
run -bench 'ServeMetadata500|ServeArchiveCached' ./integration/
run -bench 'ArchiveCached|ArchiveCold|Versions' ./proxy/
run -bench 'P2_500Versions' ./proxy/composer/
run -bench 'Packument_21MB' ./proxy/npm/
run -bench 'TreeHash|SHA256Baseline' ./release/
run -bench 'LookupVerify' ./tlog/
run -bench 'Add|Lookup' -benchtime 1x ./tlog/server/
