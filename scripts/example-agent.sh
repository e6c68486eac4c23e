#!/bin/sh
# A stand-in coding agent for local runs: reads the brief and writes a note about it, so the
# whole generate-code flow can be watched end to end without an AI service.
set -eu
brief="${AIPM_TASK_FILE:-TASK.md}"
mkdir -p notes
{
  echo "# Notes for code task ${AIPM_TASK_ID:-unknown} (attempt ${AIPM_TASK_ATTEMPT:-1})"
  echo
  head -n 1 "$brief"
  echo
  echo "Acceptance tests in the brief: $(grep -c '^- \[' "$brief" || true)"
} > "notes/task-${AIPM_TASK_ID:-unknown}.md"
echo "example agent wrote notes/task-${AIPM_TASK_ID:-unknown}.md"
