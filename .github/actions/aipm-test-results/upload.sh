#!/usr/bin/env bash
# Uploads a JUnit or Cucumber report to AIPM (POST /projects/{key}/test-results), gzipped, authenticated by
# GitHub Actions OIDC (the token asked for the stage's audience) or by the project's upload
# token. Run by action.yml; any CI can run it with the same variables.
set -euo pipefail

: "${AIPM_URL:?the AIPM stage's API URL}" "${AIPM_PROJECT:?the project's key}"
report="${AIPM_REPORT:-report.xml}"
[[ -f "$report" ]] || { echo "AIPM: no report at $report; did the tests write one?" >&2; exit 1; }
# The format by the file's name: JUnit XML, Cucumber Messages (--format message) or Cucumber JSON.
case "$report" in
  *.ndjson | *.jsonl) media=application/x-ndjson ;;
  *.json) media=application/json ;;
  *) media=application/xml ;;
esac

if [[ -n "${AIPM_UPLOAD_TOKEN:-}" ]]; then
  token="$AIPM_UPLOAD_TOKEN"
elif [[ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]]; then
  token="$(curl -sSf -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
    "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=${AIPM_AUDIENCE:-aipm}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["value"])')"
else
  echo "AIPM: no upload token and no OIDC (add 'permissions: id-token: write' to the job)" >&2
  exit 1
fi

commit="${AIPM_HEAD_SHA:-${GITHUB_SHA:?the tested commit}}"
run="${GITHUB_RUN_ID:-manual}"
attempt="${GITHUB_RUN_ATTEMPT:-1}"
run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/$run"
packed="$(mktemp "${RUNNER_TEMP:-/tmp}/aipm-report.XXXXXX")"
trap 'rm -f "$packed"' EXIT
gzip -c "$report" > "$packed"

answer="$(curl -sS --fail-with-body -X POST \
  "${AIPM_URL%/}/projects/$AIPM_PROJECT/test-results?commit=$commit&run=$run&attempt=$attempt&runUrl=$run_url" \
  -H "Authorization: Bearer $token" -H "Content-Type: $media" -H "Content-Encoding: gzip" \
  --data-binary "@$packed")" || { echo "AIPM refused the report: $answer" >&2; exit 1; }
echo "AIPM: $answer"
