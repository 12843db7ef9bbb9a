#!/usr/bin/env bash
# The promotion story in a scratch clone: first model -> champion; worse data -> rejected; better data -> promoted;
# rollback; `lmforge models`. Usage: bench/promotion_demo.sh [DIR]  (uses this checkout's .venv)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(mktemp -d)/demo}"
git clone -q "$here" "$dir" && cd "$dir"
lmforge="$here/.venv/bin/lmforge"
export PATH="$here/.venv/bin:$PATH"
step() { echo; echo "### $*"; "$lmforge" "$@" 2>/dev/null | sed -n '/outcome/,/champion/p;/rolled back/p'; }
step run --set data.sample.rows=3000 --set data.sample.seed=21                 # v1: a first model
step run --set data.sample.rows=900 --set data.sample.seed=22                   # v2: less data
step run --set data.sample.rows=8000 --set data.sample.seed=23                 # v3: more data
step rollback --reason "demo: back to the previous champion"
"$lmforge" models
