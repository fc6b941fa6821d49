#!/usr/bin/env bash
# The micro-benchmarks of sigil's hot paths (make bench-go), for a user to
# run on their machine:
#   - the whole sigil serve process over loopback against a static file
#     server: metadata of a package with 500 versions, a cached 64 MiB archive;
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
run -bench 'TreeHash|SHA256Baseline' ./release/
run -bench 'LookupVerify' ./tlog/
run -bench 'Add|Lookup' -benchtime 1x ./tlog/server/
