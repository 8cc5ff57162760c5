#!/usr/bin/env bash
# compare_strategies.sh: the search strategies side by side at equal budget,
# over several seeds, on one latency table profiled first (so every run reads
# the same predictions). Prints every run's best reward (all runs, not the
# best of them), the mean per strategy, and how many seeds each strategy won
# against random.
#
#   bash bench/compare_strategies.sh                       # defaults below
#   SEEDS="1 2 3 4 5" BUDGET=40 PROXY_STEPS=100 OUT=runs/cmp bash bench/compare_strategies.sh
#
# Each run is one `nas search` with its own results store under $OUT; a run
# whose summary exists is not repeated, and one that was killed is resumed,
# so the script can be stopped and started again. THREADS sets GOMAXPROCS of
# the training (latency is always one thread).
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"1 2 3"}
STRATEGIES=${STRATEGIES:-"random evolution rl"}
BUDGET=${BUDGET:-20}
PROXY_STEPS=${PROXY_STEPS:-80}
PROXY_FRACTION=${PROXY_FRACTION:-0.05}
PROXY_EVAL=${PROXY_EVAL:-0.34}
TARGET=${TARGET:-1.0}
# REWARD: "--hard" (accuracy under the target: the searched networks are
# then comparable with zoo networks that meet it, bench/compare_zoo.sh) or
# e.g. "--w -0.15" (the soft constraint).
REWARD=${REWARD:---hard}
SPACE=${SPACE:-small28}
THREADS=${THREADS:-1}
OUT=${OUT:-runs/compare-strategies}

mkdir -p "$OUT"
# NAS: a nas binary to use (e.g. the one a first invocation built, so that
# a later start does not rebuild from a newer checkout); default: build one.
nas=${NAS:-"$OUT/nas"}
[[ -n "${NAS:-}" ]] || go build -o "$nas" ./cmd/nas
if [[ ! -e "$OUT/lut.done" ]]; then
  "$nas" profile --quiet --lut "$OUT/lut.db" --space "$SPACE" --calibrate 16
  touch "$OUT/lut.done"
fi

for seed in $SEEDS; do
  for s in $STRATEGIES; do
    name="$s-$seed"
    [[ -s "$OUT/$name.json" ]] && continue
    args=(--target-ms "$TARGET" $REWARD --strategy "$s" --seed "$seed" --budget "$BUDGET" --space "$SPACE" --proxy
      --proxy-steps "$PROXY_STEPS" --proxy-fraction "$PROXY_FRACTION" --proxy-eval-fraction "$PROXY_EVAL" --final 0
      --lut "$OUT/lut.db" --store "$OUT/$name.db" --out "$OUT/$name" --json)
    if [[ -e "$OUT/$name.db" ]]; then
      args=(--resume 1 --store "$OUT/$name.db" --lut "$OUT/lut.db" --out "$OUT/$name" --json)
    fi
    echo "$(date +%T) $name" >&2
    GOMAXPROCS=$THREADS "$nas" search "${args[@]}" >"$OUT/$name.tmp"
    mv "$OUT/$name.tmp" "$OUT/$name.json"
  done
done

python3 - "$OUT" "$SEEDS" "$STRATEGIES" <<'EOF'
import json, sys, statistics
out, seeds, strategies = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
best = {}
for s in strategies:
    for seed in seeds:
        b = json.load(open(f"{out}/{s}-{seed}.json")).get("best") or {}
        best[s, seed] = (b.get("reward", 0.0), b.get("val_acc", 0.0), b.get("latency_ms", 0.0))
print("best reward (val acc %, predicted ms) per run")
print("%-6s" % "seed" + "".join("%28s" % s for s in strategies))
for seed in seeds:
    print("%-6s" % seed + "".join("%28s" % ("%.4f (%.1f, %.3f)" % (best[s, seed][0], 100 * best[s, seed][1], best[s, seed][2])) for s in strategies))
print("%-6s" % "mean" + "".join("%28s" % ("%.4f" % statistics.mean(best[s, x][0] for x in seeds)) for s in strategies))
if "random" in strategies:
    for s in strategies:
        if s != "random":
            wins = sum(best[s, x][0] > best["random", x][0] for x in seeds)
            print(f"{s} beats random on {wins} of {len(seeds)} seeds")
EOF
