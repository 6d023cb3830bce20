#!/usr/bin/env bash
# Installs the Debian packages the test suites run against when missing:
# BIND9 (named, tsig-keygen, nsupdate, dig), nginx, etcd, certbot and lego
# (import tests and the comparison benchmark), PowerDNS with its SQLite
# backend (the pdns provider's tests), systemd (systemd-analyze for
# the unit files), bsdutils (script(1) for terminal tests), openssl. Uses
# apt-get as root (or via sudo); does nothing when everything is present.
set -euo pipefail
need=()
command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ] || need+=(bind9 bind9-utils)
command -v tsig-keygen >/dev/null 2>&1 || [ -x /usr/sbin/tsig-keygen ] || need+=(bind9)
command -v dig >/dev/null 2>&1 || need+=(bind9-dnsutils)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v certbot >/dev/null 2>&1 || need+=(certbot)
command -v lego >/dev/null 2>&1 || need+=(lego)
[ -x /usr/sbin/pdns_server ] || need+=(pdns-server)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
[ -e /usr/lib/x86_64-linux-gnu/pdns/libgsqlite3backend.so ] || ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 || need+=(pdns-backend-sqlite3)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "ensure-packages: need root to install: ${need[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "ensure-packages: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
