#!/usr/bin/env bash
# Packs the worker artifact the instances install: the aarch64 binary, install.sh, aipm-drain
# and the three systemd units, as one tar.gz. Prints the archive's sha256, which the user data checks.
#   deploy/pack-worker.sh BINARY OUT.tar.gz
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BINARY="${1:?usage: pack-worker.sh BINARY OUT.tar.gz}"
OUT="${2:?usage: pack-worker.sh BINARY OUT.tar.gz}"
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/aipm-pack-XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
install -m 0755 "$BINARY" "$STAGE/aipm-worker"
install -m 0755 "$HERE/install.sh" "$HERE/aipm-drain" "$STAGE/"
install -m 0644 "$HERE/aipm-worker.service" "$HERE/aipm-agent-firewall.service" \
  "$HERE/aipm-drain.service" "$STAGE/"
# Fixed owner, order and times, so that the same inputs give the same archive and checksum.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00:00Z' \
  -C "$STAGE" -czf "$OUT" aipm-worker install.sh aipm-drain \
  aipm-worker.service aipm-agent-firewall.service aipm-drain.service
sha256sum "$OUT" | cut -d' ' -f1
