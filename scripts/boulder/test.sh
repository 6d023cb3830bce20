#!/usr/bin/env bash
# make test-boulder: the end-to-end suite (test/boulder) of the built
# acmectl against a real Boulder on 127.0.0.1. Installs Boulder's Debian
# dependencies, builds the pinned Boulder release once into .tools/boulder
# (a second run does not rebuild), starts it, runs the suite and stops every
# process it started, by PID, also on failure or interruption. Prints the
# build, start and test times.
# Boulder validates http-01 on port 80 and tls-alpn-01 on 443 of 127.0.0.1:
# those must be free, and this needs root (for the packages and the ports).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/boulder
export BOULDER_HOME=${BOULDER_HOME:-$PWD/.tools/boulder}
export BOULDER_LIMITS=relaxed # the suite orders more than Boulder's test limits allow per domain
"$here/ensure-packages.sh"

t0=$SECONDS
"$here/boulder.sh" build
t1=$SECONDS
started=0
cleanup() {
  local rc=$?
  if [ $started = 1 ]; then "$here/boulder.sh" stop || rc=1; fi
  if [ $rc != 0 ] && [ -d "$BOULDER_HOME/logs" ]; then
    echo "test-boulder: failed (exit $rc); Boulder's logs are in $BOULDER_HOME/logs" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=1
"$here/boulder.sh" start | tee "$BOULDER_HOME/start.out"
t2=$SECONDS

export ACMECTL_BOULDER_DIRECTORY=https://localhost:4431/directory
export ACMECTL_BOULDER_CA_BUNDLE=$BOULDER_HOME/src/test/certs/ipki/minica.pem
export ACMECTL_BOULDER_DNS_HOOK=$PWD/$here/dns-hook.sh
export ACMECTL_BOULDER_DNS=127.0.0.1:8053
export ACMECTL_BOULDER_MYSQL_DEFAULTS=$BOULDER_HOME/cfg/my.cnf
go test -count=1 -timeout 15m ./test/boulder
t3=$SECONDS
echo "test-boulder: build $((t1 - t0))s, start $((t2 - t1))s, tests $((t3 - t2))s"
