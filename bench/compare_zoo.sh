#!/usr/bin/env bash
# compare_zoo.sh: a searched network against width-scaled zoo networks, all
# trained with one recipe (nas train, same epochs, data, seed and threads),
# tested once, and timed end to end on this machine (batch 1, one thread).
# Prints the table: params, MACs, predicted and measured latency, whether
# the network meets the target, validation and test accuracy.
#
#   SEARCHED=runs/cmp/evolution-1/best.json TARGET=1.0 bash bench/compare_zoo.sh
#   EPOCHS=5 NETS="mobilenet_v3_small@0.5 shufflenet_v2_x0_5" OUT=runs/zoo bash bench/compare_zoo.sh
#
# SEARCHED is an arch (JSON file or string; several separated by ';', each
# optionally NAME=ARCH to name its row; searched-1, -2, ... otherwise);
# NETS are zoo networks as NAME or NAME@WIDTH (NETS="" for none), built by the small-input rule
# for Fashion-MNIST. A network whose summary exists is not trained again; one
# whose training was killed resumes. THREADS sets the training's threads.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${TARGET:-1.0}
EPOCHS=${EPOCHS:-3}
FRACTION=${FRACTION:-1}
WARMUP=${WARMUP:-1} # epochs of linear warm-up (nas train's default); a short recipe wants a fraction
SEED=${SEED:-1}
THREADS=${THREADS:-1}
SEARCHED=${SEARCHED:-}
NETS=${NETS-"mobilenet_v3_small@0.5 mobilenet_v3_small@0.75 mobilenet_v3_small@1.0 shufflenet_v2_x0_5 shufflenet_v2_x1_0 mobilenet_v2@0.5 ghostnet@0.5 squeezenet1_1"}
OUT=${OUT:-runs/compare-zoo}

mkdir -p "$OUT"
# NAS: a nas binary to use (e.g. the one a first invocation built, so that
# a later start does not rebuild from a newer checkout); default: build one.
nas=${NAS:-"$OUT/nas"}
[[ -n "${NAS:-}" ]] || go build -o "$nas" ./cmd/nas

# name, arch, width per network, tab-separated (arch strings hold '|')
entries=()
i=0
IFS=';' read -ra searched <<<"$SEARCHED"
for a in "${searched[@]}"; do
  [[ -z "${a// /}" ]] && continue
  i=$((i + 1))
  name="searched-$i"
  if [[ $a =~ ^[[:space:]]*([A-Za-z0-9_.-]+)=(.*)$ ]]; then # NAME=ARCH
    name=${BASH_REMATCH[1]} a=${BASH_REMATCH[2]}
  fi
  entries+=("$name"$'\t'"$a"$'\t')
done
for n in $NETS; do
  w=1
  [[ $n == *@* ]] && w=${n#*@}
  entries+=("${n/@/_}"$'\t'"${n%@*}"$'\t'"$w")
done

for e in "${entries[@]}"; do
  IFS=$'\t' read -r name arch width <<<"$e"
  [[ -s "$OUT/$name.train.json" ]] && continue
  zoo=()
  [[ -n "$width" ]] && zoo=(--width "$width")
  args=("$arch" "${zoo[@]}" --epochs "$EPOCHS" --warmup-epochs "$WARMUP" --fraction "$FRACTION" --seed "$SEED" --threads "$THREADS" --out "$OUT/$name" --json)
  [[ -e "$OUT/$name/train-state.safetensors" ]] && args+=(--resume)
  echo "$(date +%T) train $name" >&2
  if "$nas" train "${args[@]}" >"$OUT/$name.tmp" 2>"$OUT/$name.err"; then
    mv "$OUT/$name.tmp" "$OUT/$name.train.json"
  else # e.g. diverged at this recipe's learning rate: reported, not fatal
    echo "$name: training failed: $(tail -1 "$OUT/$name.err")" >&2
  fi
done

for e in "${entries[@]}"; do
  IFS=$'\t' read -r name arch width <<<"$e"
  [[ -s "$OUT/$name.latency.json" ]] && continue
  zoo=()
  [[ -n "$width" ]] && zoo=(--width "$width" --input 1x28x28 --classes 10)
  echo "$(date +%T) time $name" >&2
  "$nas" profile --quiet --lut "$OUT/lut.db" "${zoo[@]}" "$arch" >/dev/null
  "$nas" latency "$arch" "${zoo[@]}" --lut "$OUT/lut.db" --measure --json >"$OUT/$name.tmp"
  mv "$OUT/$name.tmp" "$OUT/$name.latency.json"
done

printf '%s\n' "${entries[@]}" | cut -f1 | python3 -c '
import json, sys
out, target = sys.argv[1], float(sys.argv[2])
print("%-26s %10s %12s %8s %8s %5s %7s %7s" % ("network", "params", "MACs", "pred ms", "meas ms", "<=T", "val %", "test %"))
for name in sys.stdin.read().split():
    l = json.load(open(f"{out}/{name}.latency.json"))
    try:
        t = json.load(open(f"{out}/{name}.train.json"))
    except FileNotFoundError:
        print("%-26s %10s %12s %8.3f %8.3f %5s  training failed (see %s.err)" % (name, "", "", l["predicted_ms"], l["measured_ms"],
              "yes" if l["measured_ms"] <= target else "no", name))
        continue
    print("%-26s %10d %12d %8.3f %8.3f %5s %7.2f %7.2f" % (name, t["params"], t["macs"], l["predicted_ms"], l["measured_ms"],
          "yes" if l["measured_ms"] <= target else "no", 100 * t["val_acc"], 100 * t["test_acc"]))
' "$OUT" "$TARGET"
echo "recipe: nas train --epochs $EPOCHS --warmup-epochs $WARMUP --fraction $FRACTION --seed $SEED --threads $THREADS (defaults otherwise); target $TARGET ms; latency batch 1, one thread"
