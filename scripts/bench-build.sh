#!/usr/bin/env bash
# Builds an earlier commit of ridethrough for the benchmark to measure (BENCH_SUBJECT), and prints the
# path of its dist/index.js:
#
#   BENCH_SUBJECT=$(scripts/bench-build.sh 5742240) npm run bench -- --clients resilient,passthrough --skip-memory
#
# The commit is checked out in a git worktree under ${TMPDIR:-/tmp}, with its own locked dependencies,
# except undici: that is this checkout's copy, so every client of the run shares one undici (a second
# copy in the clients' processes changes what their collector does, and so the figures). Remove it
# afterwards with `git worktree remove --force <the directory>`.
set -euo pipefail
commit=${1:?usage: scripts/bench-build.sh COMMIT}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="${TMPDIR:-/tmp}/ridethrough-bench-$(git -C "$root" rev-parse --short "$commit")"
if [ ! -f "$dir/dist/index.js" ]; then
  rm -rf "$dir"
  git -C "$root" worktree prune
  git -C "$root" worktree add --detach -q "$dir" "$commit" >&2
  (cd "$dir" && "$root/scripts/with-node.sh" 24 -- npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  rm -rf "$dir/node_modules/undici"
  ln -s "$root/node_modules/undici" "$dir/node_modules/undici"
  (cd "$dir" && "$root/scripts/with-node.sh" 24 -- npx tsup >&2)
fi
echo "$dir/dist/index.js"
