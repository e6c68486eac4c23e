#!/bin/sh
# A stand-in coding agent for local runs: reads the brief and writes a note about it, so the
# whole flow (first run, revisions asked for in a review or in AIPM, retries) can be watched end
# to end without an AI service. For a revision it answers every feedback item in
# $AIPM_RESULT_FILE, as a real agent preset would.
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
if [ "${AIPM_TASK_KIND:-generate}" = revise ] && [ -n "${AIPM_RESULT_FILE:-}" ]; then
  answers=""
  for item in $(grep -o '^### R[0-9]*' "$brief" | cut -c5-); do
    answers="${answers:+$answers,}{\"id\":\"$item\",\"disposition\":\"applied\",\"note\":\"noted in notes/task-${AIPM_TASK_ID:-unknown}.md\"}"
  done
  printf '[%s]' "$answers" > "$AIPM_RESULT_FILE"
  echo "example agent answered the feedback: [$answers]"
fi
