#!/usr/bin/env bash
# Run Let's Encrypt's Boulder without Docker, on 127.0.0.1 only, for
# `make test-boulder` (test/boulder). Adapted from the recipe proven on this
# kind of machine; the source is Boulder's module zip at a pinned tag from
# the Go module proxy, built once into $BOULDER_HOME (default .tools/boulder).
#   boulder.sh build     fetch the pinned source, apply va-allow-loopback.patch, build binaries + minica
#                        (nothing when that version is already built)
#   boulder.sh start     set up PKI/DB/configs if missing, start everything (idempotent)
#   boulder.sh stop      stop our processes by recorded PID (idempotent)
#   boulder.sh status    PID + RSS per process
#   boulder.sh restart | reset (stop + wipe DB and redis; keeps PKI) | setup
# Env: BOULDER_LIMITS=relaxed  -> rate limits x50000 (else test/config limits).
# Needs: apt mariadb-server redis-server softhsm2 dnsmasq-base; python3, curl, go.
#
# Processes started (each PID in $B/run/pids/<name>.pid, log in
# $B/logs/<name>.log):
#   mariadb redis dnsmasq(fake consul SRV for nonce redemption) chall-test-srv
#   (DoH resolver for the VAs) ct-test-srv sa publisher remoteva-{a,b,c} va
#   ra-sct-provider ca ra nonce-taro wfe
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
B=${BOULDER_HOME:-$REPO/.tools/boulder}
# Pinned Boulder release (tags v0.YYYYMMDD.N on the module proxy). Its go.mod
# asks for Go 1.26, which this machine has; a newer tag may need
# GOTOOLCHAIN=go1.27.3.
BOULDER_VERSION=${BOULDER_VERSION:-v0.20260811.0}
export BOULDER_HOME=$B
SRC=$B/src
BIN=$B/bin
CFG=$B/cfg
RUN=$B/run
PIDS=$RUN/pids
LOGS=$B/logs
DATA=$B/data
H=127.0.0.1
export SOFTHSM2_CONF=$B/softhsm2.conf
export PATH=$B/gobin:$PATH

# name -> "grpc_port host_override" (gRPC services are health-checked)
ORDER="mariadb redis dnsmasq chall-test-srv ct-test-srv sa publisher remoteva-a remoteva-b remoteva-c va ra-sct-provider ca ra nonce-taro wfe"

log() { echo "[boulder.sh] $*" >&2; }

alive() { # name
  local f=$PIDS/$1.pid
  [ -f "$f" ] || return 1
  local pid; pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # guard against PID reuse: the process must have been started from our tree
  grep -qa -e "$B" -e "$1" /proc/$pid/cmdline 2>/dev/null
}

waitport() { # port seconds
  local i
  for i in $(seq $(( $2 * 10 ))); do
    (exec 3<>/dev/tcp/$H/$1) 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

waithealth() { # name port hostoverride
  (cd $SRC && $BIN/health-checker -addr $H:$2 -host-override $3 -config $CFG/health-checker.json) >>$LOGS/health.log 2>&1
}

spawn() { # name cmd...
  local name=$1; shift
  if alive "$name"; then log "$name already running (pid $(cat $PIDS/$name.pid))"; return 0; fi
  (cd $SRC && exec setsid "$@" >>$LOGS/$name.log 2>&1 </dev/null) &
  echo $! > $PIDS/$name.pid
  log "started $name pid $!"
}

setup() {
  mkdir -p $RUN $PIDS $LOGS $DATA/redis $DATA/softhsm-tokens
  [ -x $BIN/boulder ] || { log "missing $BIN/boulder (run: $0 build)"; exit 1; }
  ln -sfn $BIN $SRC/bin
  # internal PKI (gRPC mTLS, redis, DoH, WFE HTTPS) -- minica, with 127.0.0.1 SANs
  if [ ! -f $SRC/test/certs/ipki/minica.pem ]; then
    log "generating ipki"
    mkdir -p $SRC/test/certs/ipki
    ( cd $SRC/test/certs/ipki
      minica -domains localhost --ip-addresses 127.0.0.1
      minica -domains doh.local -ip-addresses 127.0.0.1,10.77.77.77
      minica -domains "boulder,localhost" -ip-addresses 127.0.0.1
      minica -domains redis -ip-addresses 127.0.0.1
      for S in admin consul wfe bad-key-revoker crl-updater crl-storer health-checker sfe email-exporter mtca; do minica -domains "$S.boulder"; done
      for S in publisher nonce ra ca sa va rva; do minica -domains "$S.boulder,${S}1.boulder,${S}2.boulder"; done
    ) || exit 1
  fi
  # WebPKI hierarchy: roots + intermediates, keys in SoftHSM via Boulder's ceremony tool
  if [ ! -f $SRC/test/certs/webpki/int-ecdsa-b.pkcs11.json ]; then
    log "generating webpki (softhsm + ceremony)"
    cat > $SOFTHSM2_CONF <<EOF
directories.tokendir = $DATA/softhsm-tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
    mkdir -p $SRC/test/certs/webpki
    (cd $SRC && GOFLAGS=-mod=mod go run ./test/certs/webpki.go) >$LOGS/webpki.log 2>&1 || { log "webpki failed, see $LOGS/webpki.log"; exit 1; }
  fi
  python3 $HERE/gen-config.py >/dev/null || exit 1
  # redis config derived from test/redis-ratelimits.config
  sed -e "s#/test/certs#$SRC/test/certs#" $SRC/test/redis-ratelimits.config > $CFG/redis.conf
  printf 'bind 127.0.0.1\ndir %s\ndaemonize no\nprotected-mode no\n' "$DATA/redis" >> $CFG/redis.conf
  cat > $CFG/dnsmasq.conf <<EOF
port=8600
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
srv-host=_nonce-taro._tcp.service.consul,nonce-taro.service.consul,9301
host-record=nonce-taro.service.consul,127.0.0.1
EOF
  cat > $CFG/my.cnf <<EOF
[mysqld]
user=root
datadir=$DATA/mysql
socket=$RUN/mysqld.sock
pid-file=$RUN/mysqld.pid
bind-address=127.0.0.1
port=3306
skip-name-resolve
log-error=$LOGS/mysqld.err
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
max_connections=500
performance_schema=OFF
[client]
socket=$RUN/mysqld.sock
EOF
  if [ ! -d $DATA/mysql/mysql ]; then
    log "initialising mariadb datadir"
    mkdir -p $DATA/mysql
    mariadb-install-db --defaults-file=$CFG/my.cnf --auth-root-authentication-method=normal --skip-test-db >$LOGS/install-db.log 2>&1 || exit 1
    rm -f $DATA/.schema-loaded
  fi
}

build() {
  # The module zip has no vendor/: dependencies come from the module proxy
  # (and the module cache) like any Go build. A stamp per version makes a
  # second run free.
  local stamp=$BIN/.built-$BOULDER_VERSION
  if [ -f "$stamp" ] && [ -x $BIN/boulder ] && [ -x $B/gobin/minica ]; then
    log "boulder $BOULDER_VERSION already built in $BIN"; return 0
  fi
  local dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/letsencrypt/boulder@$BOULDER_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || exit 1
  rm -rf "$SRC" && mkdir -p "$B" && cp -r "$dir" "$SRC" && chmod -R u+w "$SRC" || exit 1
  cd $SRC || exit 1
  log "applying $HERE/va-allow-loopback.patch"
  patch -s -p1 < $HERE/va-allow-loopback.patch || exit 1
  mkdir -p $BIN
  GOFLAGS=-mod=mod go build -trimpath -o $BIN/ ./cmd/... ./test/ct-test-srv ./test/chall-test-srv ./test/health-checker || exit 1
  if [ ! -x $B/gobin/minica ]; then
    # 'go install github.com/jsha/minica@latest' fails behind this proxy (no @v/list); build the module directly
    GOFLAGS=-mod=mod go mod download github.com/jsha/minica@v1.1.0 || exit 1
    (cd "$(go env GOMODCACHE)/github.com/jsha/minica@v1.1.0" && GOFLAGS=-mod=mod go build -o $B/gobin/minica .) || exit 1
  fi
  touch "$stamp"
  log "built: $(ls $BIN | tr '\n' ' ')"
}

mysql_cli() { mariadb --defaults-file=$CFG/my.cnf -uroot "$@"; }

start() {
  local t0=$SECONDS
  setup
  # --- infrastructure -------------------------------------------------------
  spawn mariadb mariadbd --defaults-file=$CFG/my.cnf
  for i in $(seq 100); do mysql_cli -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
  mysql_cli -e 'select 1' >/dev/null 2>&1 || { log "mariadb did not come up, see $LOGS/mysqld.err"; return 1; }
  if [ ! -f $DATA/.schema-loaded ]; then
    log "loading schema"
    for f in 00-create-databases.sql 01-boulder_sa.sql 01-incidents_sa.sql 01-mtcmeta_44947_4_1_0_44.sql 02-users.sql; do
      mysql_cli < $SRC/sa/db/$f || { log "schema $f failed"; return 1; }
    done
    touch $DATA/.schema-loaded
  fi
  # Rate-limit state (GCRA) lives only in redis and is not valid across a
  # change of limits: drop it when BOULDER_LIMITS changed since last start.
  local mode=${BOULDER_LIMITS:-upstream}
  if [ "$(cat $DATA/.limits 2>/dev/null)" != "$mode" ]; then
    if alive redis; then log "WARNING: BOULDER_LIMITS changed but redis is running: use 'restart'"
    else rm -f $DATA/redis/dump.rdb; echo "$mode" > $DATA/.limits; log "rate-limit mode $mode (redis state cleared)"; fi
  fi
  spawn redis redis-server $CFG/redis.conf
  spawn dnsmasq dnsmasq -k --conf-file=$CFG/dnsmasq.conf --pid-file=$RUN/dnsmasq.ownpid --user=root
  spawn chall-test-srv $BIN/chall-test-srv --defaultIPv4 127.0.0.1 -defaultIPv6 "" \
      --dns01 $H:8053 --doh $H:8443 --doh-cert test/certs/ipki/doh.local/cert.pem \
      --doh-cert-key test/certs/ipki/doh.local/key.pem --management $H:8055 \
      --http01 "" -https01 "" --tlsalpn01 ""
  spawn ct-test-srv $BIN/ct-test-srv --config $CFG/ct-test-srv.json
  waitport 4218 20 || { log "redis not listening"; return 1; }
  waitport 8443 20 || { log "chall-test-srv not listening"; return 1; }
  waitport 4600 20 || { log "ct-test-srv not listening"; return 1; }
  # --- boulder ------------------------------------------------------------------
  svc() { # name cfg component grpcport debugport hostoverride
    spawn $1 $BIN/boulder $3 --config $CFG/$2 --addr $H:$4 --debug-addr $H:$5
  }
  svc sa sa.json boulder-sa 9395 8003 sa.boulder
  svc publisher publisher.json boulder-publisher 9391 8009 publisher.boulder
  svc remoteva-a remoteva-a.json remoteva 9397 8011 rva.boulder
  svc remoteva-b remoteva-b.json remoteva 9498 8012 rva.boulder
  svc remoteva-c remoteva-c.json remoteva 9499 8023 rva.boulder
  waithealth sa 9395 sa.boulder || { log "sa unhealthy"; return 1; }
  waithealth publisher 9391 publisher.boulder || { log "publisher unhealthy"; return 1; }
  for p in 9397 9498 9499; do waithealth rva $p rva.boulder || { log "rva $p unhealthy"; return 1; }; done
  svc va va.json boulder-va 9392 8004 va.boulder
  svc ra-sct-provider ra.json boulder-ra 9594 8118 ra.boulder
  waithealth va 9392 va.boulder || { log "va unhealthy"; return 1; }
  waithealth ra-sct-provider 9594 ra.boulder || { log "ra-sct-provider unhealthy"; return 1; }
  svc ca ca.json boulder-ca 9393 8001 ca.boulder
  waithealth ca 9393 ca.boulder || { log "ca unhealthy"; return 1; }
  svc ra ra.json boulder-ra 9394 8002 ra.boulder
  spawn nonce-taro $BIN/boulder nonce-service --config $CFG/nonce-a.json --addr $H:9301 --debug-addr $H:8111
  waithealth ra 9394 ra.boulder || { log "ra unhealthy"; return 1; }
  waithealth nonce 9301 nonce.boulder || { log "nonce unhealthy"; return 1; }
  spawn wfe $BIN/boulder boulder-wfe2 --config $CFG/wfe2.json --addr $H:4001 --tls-addr $H:4431 --debug-addr $H:8013
  waitport 4431 30 || { log "wfe not listening"; return 1; }
  for i in $(seq 50); do curl -sf --cacert $SRC/test/certs/ipki/minica.pem https://localhost:4431/directory >/dev/null && break; sleep 0.2; done
  curl -sf --cacert $SRC/test/certs/ipki/minica.pem https://localhost:4431/directory >/dev/null || { log "directory not served"; return 1; }
  log "all up in $(( SECONDS - t0 ))s"
  echo "DIRECTORY_URL=https://localhost:4431/directory"
  echo "DIRECTORY_URL_HTTP=http://127.0.0.1:4001/directory"
  echo "CA_BUNDLE=$SRC/test/certs/ipki/minica.pem"
  echo "HTTP01_PORT=80   # Boulder's VA always validates http-01 on port 80 (tls-alpn-01 on 443)"
  echo "CHALLTESTSRV_MGMT=http://127.0.0.1:8055  # fake DNS: every name -> 127.0.0.1"
}

stop() {
  # Boulder's services drain for ~2s each on SIGTERM: signal a whole tier at
  # once, then wait (max 15s) and SIGKILL stragglers. Infrastructure last.
  local tier name pid left
  for tier in "wfe nonce-taro ra ca ra-sct-provider va remoteva-c remoteva-b remoteva-a publisher sa ct-test-srv chall-test-srv" "dnsmasq redis mariadb"; do
    left=""
    for name in $tier; do
      [ -f $PIDS/$name.pid ] || continue
      if alive $name; then kill -TERM $(cat $PIDS/$name.pid) 2>/dev/null; left="$left $name"; else rm -f $PIDS/$name.pid; fi
    done
    for i in $(seq 150); do
      local still=""
      for name in $left; do kill -0 $(cat $PIDS/$name.pid) 2>/dev/null && still="$still $name"; done
      [ -z "$still" ] && break
      sleep 0.1
    done
    for name in $left; do
      pid=$(cat $PIDS/$name.pid)
      if kill -0 $pid 2>/dev/null; then kill -KILL $pid 2>/dev/null; log "stopped $name ($pid) with SIGKILL"; else log "stopped $name ($pid)"; fi
      rm -f $PIDS/$name.pid
    done
  done
}

status() {
  local name
  for name in $ORDER; do
    if alive $name; then
      printf '%-16s up   pid %-7s rss %s kB\n' $name $(cat $PIDS/$name.pid) "$(awk '/VmRSS/{print $2}' /proc/$(cat $PIDS/$name.pid)/status)"
    else
      printf '%-16s down\n' $name
    fi
  done
}

case "${1:-}" in
  start) start || { log "start failed; logs in $LOGS"; exit 1; } ;;
  stop) stop ;;
  status) status ;;
  setup) setup ;;
  build) build ;;
  restart) stop; start || { log "start failed; logs in $LOGS"; exit 1; } ;;
  reset) # wipe DB + redis (accounts, orders, certs, rate-limit state); keeps PKI
    stop; rm -rf $DATA/mysql $DATA/redis $DATA/.schema-loaded $DATA/.limits; log "data wiped" ;;
  *) echo "usage: $0 build|start|stop|restart|status|reset|setup   (env BOULDER_LIMITS=relaxed raises rate limits)"; exit 2 ;;
esac
