#!/usr/bin/env bash
# The end-to-end benchmark (make bench): real npm and Composer installing a
# fixed project through sigil and through what people use without it, on
# loopback, against a local registry this script generates (no network but
# installing Verdaccio from npm once):
#   - npm: a project of 300 synthetic packages (scripts/benchfixture), cold
#     and warm through sigil and through Verdaccio 6 with its uplink on the
#     same fixture;
#   - Composer: a project of 200 packages through sigil and straight from
#     the static repository, and the latency of one warm document of 500
#     releases at 8 connections from each, with the load generator on a CPU
#     of its own where there are two.
# Every install starts from an empty client cache and no lockfile, so it
# asks for every document and archive. It prints times, the ratios with
# their goals, sigil's peak RSS and its cache size across the warm repeats.
# REPEAT=N warm runs of each (default 1; the median is used; REPEAT=20
# shows whether sigil's memory grows over repeated installs). Without
# composer on the PATH, the Composer part is skipped and says so. The hot-path
# micro-benchmarks are scripts/bench-go.sh (make bench-go).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
GO=${GO:-go}
REPEAT=${REPEAT:-1}
ROOT=$PWD
T=$(mktemp -d "${TMPDIR:-/tmp}/sigil-bench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
say() { echo "bench: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
dir_kb() { du -sk "$1" | cut -f1; }
wait_http() {
	for _ in $(seq 1 300); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	say "nothing answers at $1"
	return 1
}
for tool in npm node curl; do
	command -v "$tool" >/dev/null || { say "$tool is not installed"; exit 1; }
done
COMPOSER=1
command -v composer >/dev/null || { COMPOSER=""; say "composer is not installed: the Composer part is skipped"; }

say "building sigil and the fixture"
"$GO" build -o "$T/sigil" ./cmd/sigil
"$GO" build -o "$T/benchfixture" ./scripts/benchfixture
FP=$("$T/benchfixture" port)
FIX=http://127.0.0.1:$FP
"$T/benchfixture" gen -dir "$T/fx" -base "$FIX"
"$T/benchfixture" serve -dir "$T/fx" -listen "127.0.0.1:$FP" &
PIDS+=($!)
wait_http "$FIX/composer/packages.json"

say "installing Verdaccio 6 from npm"
mkdir -p "$T/verdaccio"
npm install --prefix "$T/verdaccio" --no-audit --no-fund --loglevel=error verdaccio@6 >"$T/verdaccio/install.log" 2>&1 ||
	{ cat "$T/verdaccio/install.log" >&2; say "could not install Verdaccio"; exit 1; }
VP=$("$T/benchfixture" port)
cat >"$T/verdaccio/config.yaml" <<EOF
storage: $T/verdaccio/storage
uplinks:
  fixture:
    url: $FIX/npm/
    maxage: 30m
packages:
  '@*/*':
    access: \$all
    proxy: fixture
  '**':
    access: \$all
    proxy: fixture
log: { type: stdout, format: pretty, level: error }
listen: 127.0.0.1:$VP
EOF
"$T/verdaccio/node_modules/.bin/verdaccio" -c "$T/verdaccio/config.yaml" >"$T/verdaccio/out.log" 2>&1 &
VPID=$!
PIDS+=($VPID)
wait_http "http://127.0.0.1:$VP/-/ping"

SP=$("$T/benchfixture" port)
"$T/sigil" serve --listen "127.0.0.1:$SP" --cache-dir "$T/sigil-cache" --unsigned allow \
	--npm-upstream "$FIX/npm/" --composer-upstream "$FIX/composer" >"$T/sigil.log" 2>&1 &
SPID=$!
PIDS+=($SPID)
wait_http "http://127.0.0.1:$SP/-/healthz"

# npm_install REGISTRY: one install of the npm project from an empty cache;
# prints the seconds it took.
npm_install() {
	local d=$T/npm-run
	rm -rf "$d" && mkdir -p "$d" && cp "$T/fx/npm-project/package.json" "$d/" && : >"$d/.npmrc"
	local s e
	s=$(now)
	(cd "$d" && NO_UPDATE_NOTIFIER=1 npm install --no-audit --no-fund --loglevel=error --registry "$1" \
		--cache "$d/.npm-cache" --userconfig "$d/.npmrc" >"$d/out.log" 2>&1) ||
		{ cat "$d/out.log" >&2; say "npm install through $1 failed"; return 1; }
	e=$(now)
	local n
	n=$(find "$d/node_modules" -name package.json -path '*node_modules/*/package.json' -not -path '*/node_modules/*/node_modules/*' | wc -l)
	[ "$n" -ge 300 ] || { say "npm install through $1 installed $n packages, want 300"; return 1; }
	elapsed "$s" "$e"
}

# composer_update REPOSITORY: one resolution and install of the Composer
# project from an empty cache; prints the seconds it took.
composer_update() {
	local d=$T/composer-run
	rm -rf "$d" && mkdir -p "$d"
	sed "s#\"REPOSITORY\"#\"$1\"#" "$T/fx/composer-project/composer.json" >"$d/composer.json"
	local s e
	s=$(now)
	(cd "$d" && COMPOSER_HOME="$d/.home" COMPOSER_CACHE_DIR="$d/.cache" COMPOSER_ALLOW_SUPERUSER=1 \
		COMPOSER_NO_INTERACTION=1 composer update --no-interaction --no-progress --no-audit >"$d/out.log" 2>&1) ||
		{ cat "$d/out.log" >&2; say "composer update through $1 failed"; return 1; }
	e=$(now)
	local n
	n=$(find "$d/vendor/bench" -mindepth 1 -maxdepth 1 -type d | wc -l)
	[ "$n" -eq 200 ] || { say "composer through $1 installed $n packages, want 200"; return 1; }
	elapsed "$s" "$e"
}

SIGIL_NPM=http://127.0.0.1:$SP/npm/
VERD_NPM=http://127.0.0.1:$VP/
rss_mb() { echo $(( $(rss_kb "$SPID" "$1") / 1024 )); }
say "npm: cold installs"
npm_sigil_cold=$(npm_install "$SIGIL_NPM")
peak_cold=$(rss_mb VmHWM)
npm_verd_cold=$(npm_install "$VERD_NPM")
cache_first=$(dir_kb "$T/sigil-cache")
say "npm: $REPEAT warm install(s) each, interleaved"
npm_sigil_warm="" npm_verd_warm="" rss_warm=""
for _ in $(seq 1 "$REPEAT"); do
	npm_sigil_warm+=" $(npm_install "$SIGIL_NPM")"
	rss_warm+=" $(rss_mb VmRSS)"
	npm_verd_warm+=" $(npm_install "$VERD_NPM")"
done
peak_npm=$(rss_mb VmHWM)

comp_sigil_cold=0 comp_sigil_warm=0 comp_static=0
if [ -n "$COMPOSER" ]; then
	say "composer: a cold and $REPEAT warm update(s) through sigil, $REPEAT from the static repository"
	comp_sigil_cold=$(composer_update "http://127.0.0.1:$SP/composer")
fi
cache_after_cold=$(dir_kb "$T/sigil-cache")
if [ -n "$COMPOSER" ]; then
	comp_sigil_warm="" comp_static=""
	for _ in $(seq 1 "$REPEAT"); do
		comp_sigil_warm+=" $(composer_update "http://127.0.0.1:$SP/composer")"
		comp_static+=" $(composer_update "$FIX/composer")"
	done
fi
say "npm and composer once more through sigil, to see growth"
npm_install "$SIGIL_NPM" >/dev/null
rss_again=$(rss_mb VmRSS)
[ -z "$COMPOSER" ] || composer_update "http://127.0.0.1:$SP/composer" >/dev/null
cache_last=$(dir_kb "$T/sigil-cache")

nsw=$(echo "$npm_sigil_warm" | median)
nvw=$(echo "$npm_verd_warm" | median)
csw=$(echo "$comp_sigil_warm" | median)
cst=$(echo "$comp_static" | median)
peak=$(rss_mb VmHWM)
now_rss=$(rss_mb VmRSS)
rss_first=$(echo "$rss_warm" | awk '{ print $1 }')
rss_last=$(echo "$rss_warm" | awk '{ print $NF }')
# over VALUE GOAL: a mark when VALUE is over GOAL (numbers with decimals too).
over() { awk -v v="$1" -v g="$2" 'BEGIN { if (v > g) print "  OVER THE GOAL" }'; }
verd_peak=$(( $(rss_kb "$VPID" VmHWM) / 1024 ))
lines=$(wc -l <"$T/sigil.log")

# The latency of a warm metadata document of 500 releases at 8 connections,
# through sigil and from the static repository. The servers run on all CPUs
# but the last and the load generator on the last, so that the measure is
# of the server, not of its CPU shared with the client; on one CPU they share
# it. sigil is started again on its cache, pinned from the start so that the
# Go runtime sizes itself to its CPUs. The load generator asks for gzip, as
# Composer does: sigil answers gzipped, the static server (Go's file server)
# as the file is.
say "composer: p2 latency, 8 connections, 3 rounds each"
kill "$SPID" && wait "$SPID" 2>/dev/null || true
SRV=() GEN=() pinned="servers and load generator share the CPUs"
ncpu=$(nproc)
if command -v taskset >/dev/null && [ "$ncpu" -ge 2 ]; then
	SRV=(taskset -c "0-$((ncpu - 2))") GEN=(taskset -c "$((ncpu - 1))")
	srv_cpus="CPUs 0-$((ncpu - 2))"
	[ "$ncpu" -gt 2 ] || srv_cpus="CPU 0"
	pinned="servers on $srv_cpus, load generator on CPU $((ncpu - 1))"
fi
LP=$("$T/benchfixture" port)
${SRV[@]+"${SRV[@]}"} "$T/benchfixture" serve -dir "$T/fx" -listen "127.0.0.1:$LP" &
PIDS+=($!)
${SRV[@]+"${SRV[@]}"} "$T/sigil" serve --listen "127.0.0.1:$SP" --cache-dir "$T/sigil-cache" --unsigned allow \
	--npm-upstream "$FIX/npm/" --composer-upstream "$FIX/composer" >>"$T/sigil.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$SP/-/healthz"
wait_http "http://127.0.0.1:$LP/composer/packages.json"
MANY=composer/p2/bench/many.json
curl -fsS -o /dev/null "http://127.0.0.1:$SP/$MANY"
lat_sigil="" lat_static=""
for _ in 1 2 3; do
	lat_sigil+="$(${GEN[@]+"${GEN[@]}"} "$T/benchfixture" load -url "http://127.0.0.1:$SP/$MANY" -c 8 -d 5s)"$'\n'
	lat_static+="$(${GEN[@]+"${GEN[@]}"} "$T/benchfixture" load -url "http://127.0.0.1:$LP/$MANY" -c 8 -d 5s)"$'\n'
done
# col N: the median of column N of the rounds.
col() { awk -v c="$1" '{ print $c }' | median; }
p99_sigil=$(echo "$lat_sigil" | col 2)

cat <<EOF

sigil end-to-end benchmark ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); warm: median of $REPEAT)

npm, 300 packages          sigil      Verdaccio  ratio  goal
  cold install             ${npm_sigil_cold} s    ${npm_verd_cold} s    $(ratio "$npm_sigil_cold" "$npm_verd_cold")
  warm install             ${nsw} s    ${nvw} s    $(ratio "$nsw" "$nvw")   <= 1.0

$(if [ -n "$COMPOSER" ]; then cat <<EOC
Composer, 200 packages     sigil      static     ratio  goal
  cold update              ${comp_sigil_cold} s    ${cst} s    $(ratio "$comp_sigil_cold" "$cst")
  warm update              ${csw} s    ${cst} s    $(ratio "$csw" "$cst")   <= 1.1
EOC
else echo "Composer: skipped (composer is not installed)"; fi)

Composer p2, 500 releases, 8 connections (${pinned}; median of 3)
                           sigil      static            goal
  p50 latency              $(echo "$lat_sigil" | col 1) ms    $(echo "$lat_static" | col 1) ms
  p99 latency              ${p99_sigil} ms    $(echo "$lat_static" | col 2) ms    <= 2 ms$(over "$p99_sigil" 2)
  requests per second      $(echo "$lat_sigil" | col 3)    $(echo "$lat_static" | col 3)

sigil memory and disk                            goal
  peak RSS, npm cold       ${peak_cold} MB   <= 200 MB$(over "$peak_cold" 200)
  peak RSS, npm warm       ${peak_npm} MB   <= 200 MB$(over "$peak_npm" 200)
  peak RSS, everything     ${peak} MB (now ${now_rss} MB)   (Verdaccio: ${verd_peak} MB)
  RSS after each warm npm  ${rss_warm# } MB (and ${rss_again} MB after all the rest)
                           growth $((rss_last - rss_first)) MB from the first to the last   ~0 MB
  cache after npm cold     $((cache_first / 1024)) MB
  cache after all cold     $((cache_after_cold / 1024)) MB
  cache after every run    $((cache_last / 1024)) MB, growth over warm runs $(((cache_last - cache_after_cold) / 1024)) MB   0 MB
  sigil log lines          ${lines}
EOF
