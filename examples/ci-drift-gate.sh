#!/bin/sh
# examples/ci-drift-gate.sh: fails a CI job when the PostHog project's taxonomy has drifted from
# the snapshot kept in git (`posthog-evdefs export snapshot --out taxonomy.json`), and, given
# generated types, when those are out of date (`posthog-evdefs codegen … --out FILE` wrote them
# and FILE.lock.json). The plan is printed in the job's log for review.
#
#   examples/ci-drift-gate.sh SNAPSHOT [TYPES_FILE]     (TYPES_FILE: .ts, .go or .py)
#
# Needs POSTHOG_PERSONAL_API_KEY (a read-only key is enough), POSTHOG_HOST and POSTHOG_PROJECT_ID;
# POSTHOG_EVDEFS names the program when it is not posthog-evdefs on the PATH.
set -u
evdefs=${POSTHOG_EVDEFS:-posthog-evdefs}
snapshot=${1:?usage: ci-drift-gate.sh SNAPSHOT [TYPES_FILE]}
types=${2:-}

# plan --exit-code: 0 no changes, 3 changes (drift), 1 failure (which is not drift).
$evdefs plan "$snapshot" --delete-missing --exit-code
case $? in
  0) echo "ci-drift-gate: the project matches $snapshot" ;;
  3) echo "ci-drift-gate: the project differs from $snapshot (plan above): apply it, or export a new snapshot" >&2
     exit 1 ;;
  *) echo "ci-drift-gate: could not plan $snapshot" >&2
     exit 2 ;;
esac

if [ -n "$types" ]; then
  case $types in
    *.ts) lang=typescript ;;
    *.go) lang=golang ;;
    *.py) lang=python ;;
    *) echo "ci-drift-gate: $types: expected a .ts, .go or .py file" >&2; exit 2 ;;
  esac
  $evdefs codegen --lang "$lang" --out "$types" --check || exit 1
fi
