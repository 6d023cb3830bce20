#!/bin/sh
# acmectl package: after removal. /var/lib/acmectl and /etc/acmectl are
# left in place: they hold accounts, private keys and certificates.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
