#!/usr/bin/env bash
# test-timing: summarise `go test -json` output: wall time per package
# (slowest first) and the slowest tests. Used to measure the stages of
# `make test` (docs/dev/testing.md).
#
#   go test -json -count=1 ./... > /tmp/t.json; scripts/test-timing.sh /tmp/t.json [N]
set -euo pipefail
if [ $# -lt 1 ]; then
	echo "usage: $0 FILE.json [N slowest tests, default 25]" >&2
	exit 2
fi
file=$1
n=${2:-25}
command -v jq >/dev/null || { echo "$0: jq not found (apt-get install jq)" >&2; exit 2; }

echo "== packages by wall time (s) =="
jq -r 'select(.Test == null and (.Action == "pass" or .Action == "fail" or .Action == "skip") and .Elapsed != null)
       | "\(.Elapsed)\t\(.Action)\t\(.Package)"' "$file" | sort -t$'\t' -k1,1 -gr
jq -s -r '[.[] | select(.Test == null and .Elapsed != null and (.Action == "pass" or .Action == "fail"))
       | .Elapsed] | "sum of package times: \(add // 0 | . * 10 | round / 10) s"' "$file"

echo
echo "== $n slowest tests (s; subtests indented under their parent) =="
jq -r 'select(.Test != null and (.Action == "pass" or .Action == "fail") and .Elapsed != null)
       | "\(.Elapsed)\t\(.Action)\t\(.Package | sub(".*/acmectl/"; ""))\t\(.Test)"' "$file" |
	sort -t$'\t' -k1,1 -gr | head -n "$n"

fails=$(jq -r 'select(.Action == "fail") | "\(.Package) \(.Test // "(package)")"' "$file")
if [ -n "$fails" ]; then
	echo
	echo "== failed =="
	echo "$fails"
fi
