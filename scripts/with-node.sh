#!/usr/bin/env bash
# Run a command with a supported Node.js on PATH.
#   scripts/with-node.sh [22|24|26] -- command args...
# Without a version, uses the machine's node if it is 22.19+ and otherwise Node 24.
# A missing Node line is installed from the npm registry (package `node@N`, a real
# binary) into .tools/node-N; nothing outside the project folder is touched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want="${RIDETHROUGH_NODE:-}"
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then want="$1"; shift; fi
[[ "${1:-}" == "--" ]] && shift

supported() { # true when the given node binary is 22.19+
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

if [[ -z "$want" ]]; then
  if command -v node >/dev/null && supported "$(command -v node)"; then exec "$@"; fi
  want=24
fi
dir="$root/.tools/node-$want"
bin="$dir/node_modules/node/bin/node"
if [[ ! -x "$bin" ]]; then
  echo "with-node: installing Node $want into .tools/node-$want" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node@$want" >&2
fi
export PATH="$dir/node_modules/node/bin:$PATH"
exec "$@"
