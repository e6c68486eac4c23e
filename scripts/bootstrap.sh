#!/usr/bin/env bash
# Installs the local stack's tools (moto, cargo-lambda, cfn-lint, check-jsonschema, SAM CLI) into
# .venv inside the repository.
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

# SAM CLI (`sam validate --lint` in scripts/test; `sam build`/`sam deploy`) pins versions that
# clash with the tools above, so it gets a virtual environment of its own inside .venv.
SAM_VERSION="1.170.0"
if [[ ! -f "$VENV/sam/.aws-sam-cli-$SAM_VERSION" ]]; then
  echo "==> installing SAM CLI $SAM_VERSION into .venv/sam (first run only)"
  python3 -m venv "$VENV/sam"
  "$VENV/sam/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_VERSION"
  rm -f "$VENV/sam"/.aws-sam-cli-*
  touch "$VENV/sam/.aws-sam-cli-$SAM_VERSION"
fi
ln -sf "$VENV/sam/bin/sam" "$VENV/bin/sam"
