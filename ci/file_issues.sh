#!/usr/bin/env bash
# One GitHub issue per failure signature: comment on the open issue that carries the
# signature's id, or open one. Reads DIR/index.tsv (id TAB title) and DIR/<id>.md, as written by
# `mfm-sim gate --issues-dir DIR`. Needs `gh` with GH_TOKEN (and GH_REPO outside a checkout);
# RUN_URL, if set, is appended to each body so a comment says which run found the bug again.
set -euo pipefail
dir=${1:?usage: file_issues.sh DIR}
index="$dir/index.tsv"
[ -f "$index" ] || { echo "file_issues: no $index, nothing to file"; exit 0; }
while IFS=$'\t' read -r sig title; do
  [ -n "$sig" ] || continue
  body="$dir/$sig.md"
  if [ -n "${RUN_URL:-}" ]; then
    printf '\nFound by %s\n' "$RUN_URL" >>"$body"
  fi
  # The id is in the title and the body; an open issue with it is this bug, seen again.
  number=$(gh issue list --state open --search "$sig in:title,body" --json number \
    --jq '.[0].number // empty')
  if [ -n "$number" ]; then
    gh issue comment "$number" --body-file "$body"
    echo "file_issues: $sig: commented on #$number"
  else
    gh issue create --title "$title" --body-file "$body"
    echo "file_issues: $sig: opened a new issue"
  fi
done <"$index"
