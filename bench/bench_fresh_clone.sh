#!/usr/bin/env bash
# The README's first command in a fresh clone, for each revision given, one after another
# (alternate them, e.g. `HEAD e47e9f4 HEAD e47e9f4`, to see the same machine load):
#
#   bash bench/bench_fresh_clone.sh HEAD e47e9f4 HEAD e47e9f4
#
# Each run: a fresh clone of this repository checked out at the revision, then
#   python3 -m venv .venv && . .venv/bin/activate && pip install uv &&
#   uv pip install --compile-bytecode . && snakemake --cores 2
# timed in all, the install and the workflow apart (numba's cache cold: a new clone is a new
# source path), with the numba_cache rule's own compile seconds. The clone is removed after.
# Packages come from this machine's registry and uv's cache, as a user's second install would.
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
now() { date +%s.%N; }
for rev in "$@"; do
    d=$(mktemp -d "${TMPDIR:-/tmp}/metpot_fresh.XXXX")
    git clone -q "$repo" "$d/main"
    (
        cd "$d/main"
        git checkout -q "$rev"
        unset VIRTUAL_ENV
        PATH=$(tr ':' '\n' <<<"$PATH" | grep -v "^$repo/.venv" | paste -sd:)
        t0=$(now)
        python3 -m venv .venv && . .venv/bin/activate && pip install -q uv 2>/dev/null
        t1=$(now)
        uv pip install -q --compile-bytecode .
        t2=$(now)
        snakemake --cores 2 >"$d/workflow.log" 2>&1
        t3=$(now)
        python3 -c "print('$rev: %.1f s in all = venv %.1f + install %.1f + workflow %.1f' \
            % ($t3 - $t0, $t1 - $t0, $t2 - $t1, $t3 - $t2))"
        grep "kernels" results/logs/numba_cache.log | sed 's/.*INFO: /    numba_cache: /'
    )
    rm -rf "$d"
done
