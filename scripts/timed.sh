#!/usr/bin/env bash
# Runs a command and appends how long it took to a table of test suites:
#   scripts/timed.sh TIMES LABEL COMMAND...   (exits with the command's status)
#   scripts/timed.sh TIMES --table            (prints the table, slowest first)
set -uo pipefail
times=$1
shift
if [ "$1" = --table ]; then
  [ -f "$times" ] || exit 0
  echo
  echo "== time per suite (seconds), slowest first"
  sort -t$'\t' -k2,2nr "$times" | awk -F'\t' '{ total += $2; printf "%7d  %-6s %s\n", $2, $3, $1 } END { printf "%7d  total\n", total }'
  exit 0
fi
label=$1
shift
mkdir -p "$(dirname "$times")"
started=$(date +%s)
"$@"
status=$?
printf '%s\t%d\t%s\n' "$label" $(( $(date +%s) - started )) "$([ $status -eq 0 ] && echo ok || echo FAILED)" >> "$times"
exit $status
