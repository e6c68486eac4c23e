#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the UI tests and the bench when either is
# missing (as root, or through sudo). Idempotent: does nothing when both are there. The two
# packages come from the same Debian release, so the driver always matches the browser.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  exit 0
fi
echo "==> installing chromium and chromium-driver for the UI tests (first run only; ~30 s)"
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null || { echo "the UI tests need chromium and chromium-driver: install them as root" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
/usr/bin/chromium --version
