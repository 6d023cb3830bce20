#!/usr/bin/env bash
# make bench: one single-name issuance with an existing account against a
# local Pebble (PEBBLE_VA_NOSLEEP=1): wall time per issuance (whole
# process), ACME requests per issuance counted on Pebble's side, peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
export ACMECTL_TOOLS="$PWD/.tools"
go test -run '^$' -bench 'Issuance' -benchtime "${BENCHTIME:-20x}" -count "${COUNT:-3}" ./test/e2e
