#!/bin/sh
# acmectl package: before removal (not on upgrade). Stops the units; the
# state in /var/lib/acmectl (accounts, keys, certificates) is kept.
set -e
case "$1" in
	upgrade|1) exit 0 ;; # deb passes "upgrade", rpm passes the count left (1 on upgrade)
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now acmectl-renew.timer acmectl.service >/dev/null 2>&1 || true
fi
exit 0
