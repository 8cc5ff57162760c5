#!/usr/bin/env bash
# supernet_rank.sh: how well a supernet ranks the networks of small28 on
# Fashion-MNIST, against stand-alone training, next to the search's proxy
# and MACs (bench/supernetrank does the work; docs/search.md, "How well
# the supernet ranks").
#
#   OUT=runs/rank bash bench/supernet_rank.sh
#   SUPERNET=runs/supernets/small28-fashion-mnist-HASH EPOCHS=1 FRACTION=0.5 SHARDS=2 REFERENCE=1 OUT=runs/rank bash bench/supernet_rank.sh
#   SUPER_EPOCHS=3 SUPER_FRACTION=1 SUPER_THREADS=2 EPOCHS=5 FRACTION=1 SHARDS=2 OUT=runs/rank5 bash bench/supernet_rank.sh
#
# 1. trains the supernet (nas supernet train --space small28 --data
#    fashion-mnist --epochs SUPER_EPOCHS --fraction SUPER_FRACTION
#    --random RANDOM_NETS --threads SUPER_THREADS --seed 1) into OUT/super;
# 2. draws N networks of small28 with SEED, spread over its range of MACs,
#    and trains each stand-alone (EPOCHS on FRACTION of the training split,
#    the dataset's augmentation, one thread, weight seed SEED+i) and with
#    the proxy (1 epoch on 5%), plus SPREAD more seeds of the median
#    network; SHARDS processes share these trainings, beside step 1;
# 3. scores every network with the supernet (batch norm recalibrated on
#    500 training images, 1,000 validation images; with REFERENCE=1 also
#    2,000 and all 6,000; with VARIANTS=1 also calibration seeds,
#    cross-entropy, the mean probability of the true class and a 20-step
#    fine-tune, OUT/rank/variants.csv) and prints Kendall's tau-b and Spearman's rho
#    against the stand-alone accuracy; OUT/rank/table.csv and
#    OUT/rank/summary.json hold the table and the figures.
#
# SUPERNET=DIR scores an existing supernet instead of step 1, for example
# the one the README's main job keeps in runs/supernets/ (the search's
# recipe, pipeline.DefaultSupernetRecipe; go run ./bench/supernetrank
# -build-supernet 0.3 -supernet DIR trains it); the scoring only reads it.
#
# Every step resumes: a killed supernet training continues from its
# checkpoint, and trainings already in OUT/rank/trainings.jsonl are not run
# again. NICE (default 19) is the niceness of the long steps.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/supernet-rank}
SUPER_EPOCHS=${SUPER_EPOCHS:-1}
SUPER_FRACTION=${SUPER_FRACTION:-0.12}
RANDOM_NETS=${RANDOM_NETS:-2}
SUPER_THREADS=${SUPER_THREADS:-4}
N=${N:-20}
SEED=${SEED:-1}
EPOCHS=${EPOCHS:-1}
FRACTION=${FRACTION:-0.1}
SPREAD=${SPREAD:-2}
SHARDS=${SHARDS:-4}
REFERENCE=${REFERENCE:-0}
NICE=${NICE:-19}

mkdir -p "$OUT"
nas=${NAS:-"$OUT/nas"}
[[ -n "${NAS:-}" || -n "${SUPERNET:-}" ]] || go build -o "$nas" ./cmd/nas
rank="$OUT/supernetrank"
go build -o "$rank" ./bench/supernetrank

# The supernet and the trainings do not depend on each other: they run
# side by side, the trainings shared by SHARDS processes.
pids=()
super=${SUPERNET:-"$OUT/super"}
if [[ -z "${SUPERNET:-}" && ! -s "$OUT/super.json" ]]; then
  args=(--space small28 --data fashion-mnist --epochs "$SUPER_EPOCHS" --fraction "$SUPER_FRACTION"
    --random "$RANDOM_NETS" --threads "$SUPER_THREADS" --seed 1 --out "$OUT/super" --json)
  [[ -e "$OUT/super/supernet.safetensors" ]] && args+=(--resume)
  echo "$(date -u +%T) supernet: nas supernet train ${args[*]}" >&2
  (nice -n "$NICE" "$nas" supernet train "${args[@]}" >"$OUT/super.tmp" 2>"$OUT/super.log" &&
    mv "$OUT/super.tmp" "$OUT/super.json") &
  pids+=($!)
fi
common=(-out "$OUT/rank" -n "$N" -seed "$SEED" -split-seed 1 -epochs "$EPOCHS" -fraction "$FRACTION" -threads 1 -spread "$SPREAD")
for ((k = 0; k < SHARDS; k++)); do
  nice -n "$NICE" "$rank" "${common[@]}" -shard "$k/$SHARDS" >"$OUT/rank-$k.log" 2>&1 &
  pids+=($!)
done
echo "$(date -u +%T) trainings: $SHARDS processes, logs $OUT/rank-*.log" >&2
for p in "${pids[@]}"; do
  wait "$p" || { echo "a step failed: see $OUT/super.log and $OUT/rank-*.log" >&2; exit 1; }
done

ref=()
[[ $REFERENCE == 1 ]] && ref=(-reference)
[[ ${VARIANTS:-0} == 1 ]] && ref+=(-variants)
"$rank" "${common[@]}" -train=false -supernet "$super" "${ref[@]}"
echo "supernet: nas supernet train --space small28 --data fashion-mnist --epochs $SUPER_EPOCHS --fraction $SUPER_FRACTION --random $RANDOM_NETS --threads $SUPER_THREADS --seed 1"
echo "stand-alone: $EPOCHS epochs on $FRACTION of the training split, augmentation, one thread; proxy: 1 epoch on 5%; networks: $N drawn with seed $SEED"
