#!/bin/sh
# acmectl package: after install or upgrade. Units are not enabled here:
#   systemctl enable --now acmectl-renew.timer     (renew twice a day)
# or
#   systemctl enable --now acmectl.service         (acmectl renew --daemon)
set -e
chmod 0700 /var/lib/acmectl 2>/dev/null || true
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# On upgrade, restart what was running so the new binary is used.
	if systemctl is-active --quiet acmectl.service; then
		systemctl try-restart acmectl.service >/dev/null 2>&1 || true
	fi
fi
exit 0
