#!/usr/bin/env bash
# Installs the local stack's tools (moto, cargo-lambda, cfn-lint, check-jsonschema) into .venv inside the repository.
# Idempotent: does nothing when .venv already holds exactly scripts/requirements.txt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/scripts/requirements.txt"
STAMP="$VENV/.requirements-$(sha256sum "$REQUIREMENTS" | cut -c1-16)"

if [[ ! -f "$STAMP" ]]; then
  echo "==> installing the local stack's tools into .venv (first run only; a few minutes)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  rm -f "$VENV"/.requirements-*
  touch "$STAMP"
fi
