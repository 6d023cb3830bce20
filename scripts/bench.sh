#!/usr/bin/env bash
# make bench: everything issue 17 measures, in one run against local
# Pebbles (PEBBLE_VA_NOSLEEP=1 unless said otherwise, no nonce rejection),
# with a ratio and a PASS/FAIL per target (test/bench):
#  - package init of `acmectl version` (GODEBUG=inittrace=1);
#  - one single-name issuance with an existing account, whole process,
#    against the floor program (scripts/floor, bare x/crypto/acme), with
#    CPU time, peak RSS and the requests counted on Pebble's side;
#  - the requests of an order of N = 1, 10, 100 names (3N+6), and the
#    extra polls when validation is not instant;
#  - `renew --force` of 100 certificates (webroot behind nginx) against the
#    floor's in-process loop at the same --parallel;
#  - `renew` with nothing due over 10,001 certificates;
#  - lego and certbot where installed (OTHERS=0 leaves them out).
# BENCH_RUNS=N changes the number of runs per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
export ACMECTL_TOOLS="$PWD/.tools"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# make bench builds bin/ first: measure the release build when it is there.
[ -x bin/acmectl ] && [ -x bin/acmectl-etcd ] && export ACMECTL_BENCH_BIN="$PWD/bin"
ACMECTL_BENCH=1 go test -count=1 -timeout 20m -run '^TestBench$' -v ./test/bench >"$out" 2>&1 || { cat "$out"; exit 1; }
grep -v -e '^=== RUN' -e '^--- ' -e '^PASS$' -e '^ok ' "$out"
# Exit 1 when a target failed.
grep -q '^bench: all targets PASS' "$out"
