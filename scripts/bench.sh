#!/usr/bin/env bash
# make bench: one single-name issuance with an existing account against a
# local Pebble (PEBBLE_VA_NOSLEEP=1, no nonce rejection), measured twice:
#  - BenchmarkObtainInProcess: the protocol alone (client package, fresh
#    client per issuance: directory, nonce, order ... certificate);
#  - BenchmarkIssuance: the whole acmectl process (start, account load, key,
#    order, atomic install), with its peak RSS;
#  - BenchmarkOtherClients: lego and certbot the same way, for comparison.
# Requests are counted on Pebble's side (a counting proxy in front of it).
set -euo pipefail
cd "$(dirname "$0")/.."
export ACMECTL_TOOLS="$PWD/.tools"
go test -run '^$' -bench 'ObtainInProcess' -benchtime "${BENCHTIME:-20x}" -count "${COUNT:-3}" ./client
go test -run '^$' -bench 'Issuance' -benchtime "${BENCHTIME:-20x}" -count "${COUNT:-3}" ./test/e2e
# The same measurement for lego and certbot when installed (slow: seconds each).
if [ "${OTHERS:-1}" = 1 ]; then
  go test -run '^$' -bench 'OtherClients' -benchtime 3x ./test/e2e
fi
