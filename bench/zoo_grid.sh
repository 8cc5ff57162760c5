#!/usr/bin/env bash
# zoo_grid.sh: networks searched with a supernet against the zoo, at
# several latency targets and search seeds (docs/search.md, "Searched
# networks against the zoo"; figures in docs/benchmarks.md).
#
#   SUPER=runs/rank/super OUT=runs/grid bash bench/zoo_grid.sh
#   SUPER=runs/rank/super TARGETS="0.5" SEEDS="1" BUDGET=20 FINAL_EPOCHS=1 FINAL_WARMUP=0.1 FINAL_FRACTION=0.02 \
#     FAMILIES="mobilenet_v3_small squeezenet1_1" OUT=runs/grid-tiny bash bench/zoo_grid.sh
#
# 1. times every width-scaled variant of the baseline families (small-input
#    rule, 1x28x28, 10 classes; batch 1, one thread, this machine);
# 2. per target T (TARGETS, ms) and seed S (SEEDS): nas search --target-ms T
#    --hard --supernet SUPER --budget BUDGET --final 0 --seed S: the best
#    network within T by the supernet's accuracy;
# 3. trains the searched networks and, per family and target, the widest
#    variant that meets T end to end, all with one recipe (bench/compare_zoo.sh:
#    nas train --epochs FINAL_EPOCHS --warmup-epochs FINAL_WARMUP --fraction
#    FINAL_FRACTION --seed 1; a recipe of one or two epochs wants a warm-up
#    shorter than nas train's one epoch, which would end it at the peak
#    learning rate),
#    and times them;
# 4. prints the grid: per target, each searched network's test accuracy
#    and measured latency, the best baseline that meets T, and the margin
#    (searched minus best baseline) as mean and standard deviation over
#    the seeds; OUT/grid.json holds it.
#
# Every step skips what is done (search summaries, trainings, timings).
set -euo pipefail
cd "$(dirname "$0")/.."

SUPER=${SUPER:?SUPER=DIR: the supernet folder (nas supernet train --space small28 --data fashion-mnist --out DIR)}
OUT=${OUT:-runs/zoo-grid}
TARGETS=${TARGETS:-"0.3 0.5 0.8"}
SEEDS=${SEEDS:-"1 2 3"}
BUDGET=${BUDGET:-1000}
FINAL_EPOCHS=${FINAL_EPOCHS:-5}
FINAL_FRACTION=${FINAL_FRACTION:-1}
FINAL_WARMUP=${FINAL_WARMUP:-1}
THREADS=${THREADS:-2}
FAMILIES=${FAMILIES:-"mobilenet_v2 mobilenet_v3_small shufflenet_v2 ghostnet squeezenet1_1 mnasnet1_0"}
NICE=${NICE:-19}

# The width-scaled variants of each family: its zoo names and widths.
variants() {
  case $1 in
  mobilenet_v2) echo mobilenet_v2@0.5 mobilenet_v2@0.75 mobilenet_v2@1 mobilenet_v2@1.4 ;;
  mobilenet_v3_small) echo mobilenet_v3_small@0.5 mobilenet_v3_small@0.75 mobilenet_v3_small@1 mobilenet_v3_small@1.25 ;;
  shufflenet_v2) echo shufflenet_v2_x0_5 shufflenet_v2_x1_0 shufflenet_v2_x1_5 shufflenet_v2_x2_0 ;;
  ghostnet) echo ghostnet@0.5 ghostnet@1 ghostnet@1.3 ;;
  squeezenet1_1) echo squeezenet1_1 ;;
  mnasnet1_0) echo mnasnet1_0@0.5 mnasnet1_0@0.75 mnasnet1_0@1 mnasnet1_0@1.3 ;;
  *) echo "zoo_grid.sh: unknown family $1" >&2; return 1 ;;
  esac
}

mkdir -p "$OUT"
nas=${NAS:-"$OUT/nas"}
[[ -n "${NAS:-}" ]] || go build -o "$nas" ./cmd/nas
lut="$OUT/lut.db"

# 1. time every variant (file names as compare_zoo.sh writes them)
for f in $FAMILIES; do
  for v in $(variants "$f"); do
    name=${v/@/_}
    [[ -s "$OUT/$name.latency.json" ]] && continue
    w=1
    [[ $v == *@* ]] && w=${v#*@}
    zoo=(--width "$w" --input 1x28x28 --classes 10)
    echo "$(date -u +%T) time $name" >&2
    nice -n "$NICE" "$nas" profile --quiet --lut "$lut" "${zoo[@]}" "${v%@*}" >/dev/null
    nice -n "$NICE" "$nas" latency "${v%@*}" "${zoo[@]}" --lut "$lut" --measure --json >"$OUT/$name.tmp"
    mv "$OUT/$name.tmp" "$OUT/$name.latency.json"
  done
done

# 2. search
searched=()
for t in $TARGETS; do
  for s in $SEEDS; do
    name="searched-t$t-s$s"
    sum="$OUT/$name.search.json"
    if [[ ! -s $sum ]]; then
      rm -f "$OUT/$name.results.db" # a search cut short starts again: it costs minutes
      echo "$(date -u +%T) search target $t ms seed $s" >&2
      nice -n "$NICE" "$nas" search --target-ms "$t" --hard --supernet "$SUPER" --budget "$BUDGET" --final 0 \
        --seed "$s" --threads "$THREADS" --lut "$lut" --store "$OUT/$name.results.db" --out "$OUT/$name.report" \
        --quiet --json >"$OUT/$name.tmp"
      mv "$OUT/$name.tmp" "$sum"
    fi
    arch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best"]["arch"])' "$sum")
    searched+=("$name=$arch")
  done
done

# 3. per target, the widest variant of each family that meets it
nets=""
for f in $FAMILIES; do
  for t in $TARGETS; do
    best=""
    for v in $(variants "$f"); do # narrowest first
      ms=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measured_ms"])' "$OUT/${v/@/_}.latency.json")
      python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$ms" "$t" && best=$v
    done
    [[ -n $best && " $nets " != *" $best "* ]] && nets="$nets $best"
  done
done

for t in $TARGETS; do
  SEARCHED=$(IFS=';'; echo "${searched[*]}") NETS="$nets" TARGET=$t EPOCHS=$FINAL_EPOCHS WARMUP=$FINAL_WARMUP FRACTION=$FINAL_FRACTION \
    SEED=1 THREADS=$THREADS NAS=$nas OUT=$OUT nice -n "$NICE" bash bench/compare_zoo.sh >"$OUT/table-$t.txt"
done

# 4. the grid
python3 - "$OUT" "$TARGETS" "$SEEDS" "$FAMILIES" "$nets" <<'EOF'
import json, statistics, sys
out, targets, seeds, families, nets = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5].split()
def load(name, kind):
    try:
        return json.load(open(f"{out}/{name}.{kind}.json"))
    except FileNotFoundError:
        return None
grid = []
for t in targets:
    T = float(t)
    base = []
    for n in nets:
        name = n.replace("@", "_")
        l, tr = load(name, "latency"), load(name, "train")
        if l and tr and l["measured_ms"] <= T:
            base.append((tr["test_acc"], name, l["measured_ms"]))
    best = max(base) if base else None
    rows = []
    for s in seeds:
        name = f"searched-t{t}-s{s}"
        l, tr = load(name, "latency"), load(name, "train")
        if not (l and tr):
            continue
        rows.append({"seed": int(s), "test_acc": tr["test_acc"], "measured_ms": l["measured_ms"],
                     "meets": l["measured_ms"] <= T, "margin": tr["test_acc"] - best[0] if best else None})
    margins = [r["margin"] for r in rows if r["margin"] is not None]
    g = {"target_ms": T, "searched": rows,
         "best_baseline": {"name": best[1], "test_acc": best[0], "measured_ms": best[2]} if best else None,
         "baselines_meeting": [{"name": b[1], "test_acc": b[0], "measured_ms": b[2]} for b in sorted(base, reverse=True)],
         "margin_mean": statistics.mean(margins) if margins else None,
         "margin_sd": statistics.stdev(margins) if len(margins) > 1 else None,
         "beats_all": bool(margins) and all(m > 0 for m in margins) and all(r["meets"] for r in rows)}
    grid.append(g)
    print(f"target {T} ms: best baseline meeting it: " + (f"{best[1]} {100*best[0]:.2f}% ({best[2]:.3f} ms)" if best else "none"))
    for r in rows:
        m = "" if r["margin"] is None else f"  margin {100*r['margin']:+.2f} points"
        print(f"  seed {r['seed']}: test {100*r['test_acc']:.2f}%  {r['measured_ms']:.3f} ms{'' if r['meets'] else ' (misses the target)'}{m}")
    if margins:
        sd = f" +- {100*g['margin_sd']:.2f}" if g["margin_sd"] is not None else ""
        print(f"  margin over {len(margins)} seeds: {100*g['margin_mean']:+.2f}{sd} points; beats every baseline meeting it: {'yes' if g['beats_all'] else 'no'}")
json.dump(grid, open(f"{out}/grid.json", "w"), indent=2)
EOF
echo "search: nas search --hard --supernet $SUPER --budget $BUDGET --final 0; final recipe: nas train --epochs $FINAL_EPOCHS --warmup-epochs $FINAL_WARMUP --fraction $FINAL_FRACTION --seed 1 --threads $THREADS; latency: batch 1, one thread, measured end to end"
