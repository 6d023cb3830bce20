#!/usr/bin/env bash
# flake-check: run test suites many times, in several conditions, and print
# how often each test failed. Finds tests that depend on timing, ports or
# the order of events (docs/dev/testing.md).
#
#   scripts/flake-check.sh [-n N] [-r REGEXP] [-m "normal gomaxprocs1 hog"] [-race] [PKG...]
#
# Conditions (-m, all three by default):
#   normal      go test -count=N as is
#   gomaxprocs1 GOMAXPROCS=1: one P, so goroutines interleave differently
#   hog         as normal, beside one busy loop per CPU (a loaded machine)
# PKG defaults to the unit packages (everything but test/e2e and
# test/hostile). Exit status 1 when any test failed in any condition.
set -euo pipefail
cd "$(dirname "$0")/.."

n=20 run= race= modes="normal gomaxprocs1 hog" timeout=60m
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=$2; shift 2 ;;
	-r) run=$2; shift 2 ;;
	-m) modes=$2; shift 2 ;;
	-race) race=-race; shift ;;
	-timeout) timeout=$2; shift 2 ;;
	-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "flake-check: unknown option $1 (see -h)" >&2; exit 2 ;;
	*) break ;;
	esac
done
case $n in '' | *[!0-9]*) echo "flake-check: -n wants a number, not '$n'" >&2; exit 2 ;; esac
command -v jq >/dev/null || { echo "flake-check: jq not found (apt-get install jq)" >&2; exit 2; }
if [ $# -eq 0 ]; then
	# shellcheck disable=SC2046
	set -- $(go list ./... | grep -v -e /test/e2e -e /test/hostile)
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/flake-check.XXXXXX")
hogs=()
stop_hogs() {
	for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${hogs[@]}"; do wait "$p" 2>/dev/null || true; done
	hogs=()
}
trap stop_hogs EXIT

args=(-json -count="$n" -timeout="$timeout" $race)
[ -n "$run" ] && args+=(-run "$run")
for mode in $modes; do
	env=()
	case $mode in
	normal) ;;
	gomaxprocs1) env=(GOMAXPROCS=1) ;;
	hog)
		for _ in $(seq "$(nproc)"); do
			sh -c 'while :; do :; done' &
			hogs+=($!)
		done
		;;
	*) echo "flake-check: unknown condition $mode (normal, gomaxprocs1, hog)" >&2; exit 2 ;;
	esac
	echo "flake-check: $mode: go test ${args[*]} $* (${env[*]:-})" >&2
	start=$(date +%s)
	env "${env[@]}" go test "${args[@]}" "$@" >"$out/$mode.json" 2>"$out/$mode.stderr" || true
	stop_hogs
	echo "flake-check: $mode: $(($(date +%s) - start)) s; output in $out/$mode.json" >&2
done

# One line per test that failed at least once: condition, failures/runs,
# package, test. A failure without a test name is the package's (a build
# error, a panic, a timeout, TestMain).
status=0
echo "condition    fail/runs  test"
for mode in $modes; do
	jq -r --arg mode "$mode" '
		select(.Action == "pass" or .Action == "fail")
		| [.Package, (.Test // "(package)"), .Action] | @tsv' "$out/$mode.json" |
		awk -F'\t' -v mode="$mode" '
			{ key = $1 " " $2; runs[key]++
			  if ($3 == "fail") { fails[key]++; if ($2 != "(package)") testfail[$1] = 1 } }
			END { for (k in fails) {
				split(k, f, " ")
				if (f[2] == "(package)" && (f[1] in testfail)) continue
				printf "%-12s %4d/%-4d  %s\n", mode, fails[k], runs[k], k } }' |
		sed 's#github.com/acmectl/acmectl/##' | sort -k4
	if jq -e 'select(.Action == "fail")' "$out/$mode.json" >/dev/null; then status=1; fi
	if [ -s "$out/$mode.stderr" ]; then
		echo "flake-check: $mode: go test wrote to stderr (build errors?), see $out/$mode.stderr" >&2
		status=1
	fi
done
[ $status -eq 0 ] && echo "flake-check: no failures"
exit $status
