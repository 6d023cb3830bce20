#!/usr/bin/env bash
# Installs the Debian packages Boulder needs when run without Docker
# (scripts/boulder/boulder.sh): MariaDB, Redis, SoftHSM, dnsmasq, plus
# patch, python3 and curl. Uses apt-get as root (or via sudo); does nothing
# when everything is present.
set -euo pipefail
need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v patch >/dev/null 2>&1 || need+=(patch)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "boulder ensure-packages: need root to install: ${need[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "boulder ensure-packages: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
