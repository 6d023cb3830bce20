#!/usr/bin/env bash
# make demo: a real certificate from a local Pebble with the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/demo -acmectl bin/acmectl -pebble .tools/pebble "$@"
