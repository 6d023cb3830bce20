// Package packaging holds what releases ship besides the binary: systemd
// units (systemd/), package maintainer scripts (scripts/). Its tests check
// the units with systemd-analyze, the guide's cron line, and the release
// configuration (.goreleaser.yaml) with `goreleaser check`.
package packaging
