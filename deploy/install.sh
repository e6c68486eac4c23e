#!/usr/bin/env bash
# Installs the AIPM worker on an Amazon Linux 2023 instance, from the unpacked worker artifact
# (scripts/deploy-worker packs it with deploy/pack-worker.sh: this script, aipm-worker,
# aipm-drain and the units aipm-worker, aipm-agent-firewall and aipm-drain). The instance's user data runs it as root after checking the
# artifact's sha256; tests run it with ROOT set to a scratch folder and the system commands
# stubbed.
#
#   install.sh SETTINGS_FILE
#
# SETTINGS_FILE holds the worker's environment (tables, queue, repository, agent preset); it is
# installed as /etc/aipm/worker.env, readable by root alone (systemd reads it for the worker).
# AIPM_AGENT_KEY_SECRET_ARN in it, when set, names a Secrets Manager secret whose value becomes
# the variable AIPM_AGENT_KEY_VARIABLE (for example ANTHROPIC_API_KEY) in that file.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${ROOT:-}"
SETTINGS="${1:?usage: install.sh SETTINGS_FILE}"

setting() {
  sed -n "s/^$1=//p" "$SETTINGS" | tail -n 1
}

echo "aipm install: accounts"
# The worker, and the agent's own account: no login shell for the worker, a home for the
# agent's CLI settings outside /home (the unit hides /home).
id aipm >/dev/null 2>&1 ||
  useradd --system --user-group --home-dir /var/lib/aipm-worker --no-create-home --shell /sbin/nologin aipm
id aipm-agent >/dev/null 2>&1 ||
  useradd --system --user-group --home-dir /var/lib/aipm-agent --create-home --shell /bin/bash aipm-agent

echo "aipm install: files"
install -D -m 0755 "$HERE/aipm-worker" "$ROOT/usr/local/bin/aipm-worker"
install -D -m 0644 "$HERE/aipm-worker.service" "$ROOT/etc/systemd/system/aipm-worker.service"
install -D -m 0755 "$HERE/aipm-drain" "$ROOT/usr/local/bin/aipm-drain"
install -D -m 0644 "$HERE/aipm-agent-firewall.service" \
  "$ROOT/etc/systemd/system/aipm-agent-firewall.service"
install -D -m 0644 "$HERE/aipm-drain.service" "$ROOT/etc/systemd/system/aipm-drain.service"
install -d -m 0755 "$ROOT/etc/aipm"
install -m 0600 /dev/null "$ROOT/etc/aipm/worker.env"
grep -v -e '^AIPM_AGENT_KEY_SECRET_ARN=' -e '^AIPM_AGENT_KEY_VARIABLE=' "$SETTINGS" \
  >>"$ROOT/etc/aipm/worker.env" || true
echo "AIPM_AGENT_USER=aipm-agent" >>"$ROOT/etc/aipm/worker.env"

KEY_SECRET="$(setting AIPM_AGENT_KEY_SECRET_ARN)"
KEY_VARIABLE="$(setting AIPM_AGENT_KEY_VARIABLE)"
if [[ -n "$KEY_SECRET" ]]; then
  echo "aipm install: the agent's API key from Secrets Manager"
  KEY="$(aws secretsmanager get-secret-value --secret-id "$KEY_SECRET" \
    --region "$(setting AWS_REGION)" --query SecretString --output text)"
  # Written, never echoed: the file is root's alone.
  printf '%s=%s\n' "${KEY_VARIABLE:?AIPM_AGENT_KEY_VARIABLE names the variable of the key}" "$KEY" \
    >>"$ROOT/etc/aipm/worker.env"
fi

echo "aipm install: the agent's CLI"
case "$(setting AIPM_AGENT_PRESET)" in
  claude-code)
    dnf install -y -q nodejs npm
    npm install --global --no-fund --no-audit @anthropic-ai/claude-code
    ;;
  codex)
    dnf install -y -q nodejs npm
    npm install --global --no-fund --no-audit @openai/codex
    ;;
  aider)
    dnf install -y -q python3.12 python3.12-pip
    python3.12 -m pip install --quiet --prefix /usr/local aider-chat
    ;;
  "")
    echo "no AIPM_AGENT_PRESET: AIPM_AGENT_COMMAND must name an agent already on the image"
    ;;
  *)
    echo "unknown AIPM_AGENT_PRESET $(setting AIPM_AGENT_PRESET)" >&2
    exit 1
    ;;
esac

echo "aipm install: the agent may not reach the instance metadata service"
dnf install -y -q iptables-nft
systemctl daemon-reload
systemctl enable --now aipm-agent-firewall.service
systemctl enable --now aipm-worker.service
systemctl enable --now aipm-drain.service
echo "aipm install: done"
