#!/usr/bin/env bash
# compare_train.sh: training throughput of nas (bench/trainbench) and of
# PyTorch (bench/train_torch.py on the module nas export writes for the same
# architecture), alternating ROUNDS times; prints each side's median round
# (images/s of wall time, and images per CPU-second of the process) and the
# ratio nas/PyTorch, and the median and range of the rounds' own ratios.
#
#   bash bench/compare_train.sh                    # batch 64, 2 threads
#   ARCH="in1x28x28 cls10 | ..." THREADS=1 ROUNDS=5 bash bench/compare_train.sh
#   BASELINE=/tmp/trainbench-old bash bench/compare_train.sh
#   MARKDOWN=1 bash bench/compare_train.sh         # a row of docs/benchmarks.md
#
# With BASELINE (a trainbench binary built from another commit), each round
# runs it too, and the script also prints this nas against the baseline:
# the median and range of the rounds' own ratios, in which a drift of the
# machine's speed cancels.
#
# With MARKDOWN=1 the result is also printed as a row of the table in
# docs/benchmarks.md (command, images/s of both, the ratio of the medians,
# the rounds' own ratios), and a line with the date and the CPU.
#
# Needs Debian's /usr/bin/python3 with torch, and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH=${ARCH:-"in1x28x28 cls10 | conv_o16_k3_arelu6 | ir_o16_m16_arelu6 | ir_o24_m96_s2_arelu6 | ir_o24_m96_arelu6 | ir_o32_m144_s2_arelu6 | ir_o32_m192_arelu6 | ir_o32_m192_arelu6 | ir_o64_m192_s2_arelu6 | ir_o64_m384_arelu6 | ir_o80_m384_arelu6 | conv_o256_k1_arelu6 | gap | linear_o10"}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
STEPS=${STEPS:-20}
ROUNDS=${ROUNDS:-3}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/trainbench" ./bench/trainbench
go run ./cmd/nas export "$ARCH" --format pytorch -o "$tmp/net.py" >&2

field() { sed -E "s/.*\"$1\": ?([0-9.e+-]+).*/\1/" <<<"$2"; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

nas_ips=(); nas_cpu=(); pt_ips=(); pt_cpu=(); ratios=(); base_ratios=()
for r in $(seq "$ROUNDS"); do
  if [[ -n "${BASELINE:-}" ]]; then
    bl=$("$BASELINE" -arch "$ARCH" -batch "$BATCH" -threads "$THREADS" -steps "$STEPS")
  fi
  n=$("$tmp/trainbench" -arch "$ARCH" -batch "$BATCH" -threads "$THREADS" -steps "$STEPS")
  p=$(/usr/bin/python3 bench/train_torch.py "$tmp/net.py" "$BATCH" "$THREADS" "$STEPS")
  nas_ips+=("$(field images_per_s "$n")"); nas_cpu+=("$(field images_per_cpu_s "$n")")
  pt_ips+=("$(field images_per_s "$p")"); pt_cpu+=("$(field images_per_cpu_s "$p")")
  ratios+=("$(awk -v a="${nas_ips[-1]}" -v b="${pt_ips[-1]}" 'BEGIN { printf "%.3f", a/b }')")
  printf 'round %d: nas %.1f, pytorch %.1f images/s, ratio %s\n' "$r" "${nas_ips[-1]}" "${pt_ips[-1]}" "${ratios[-1]}" >&2
  if [[ -n "${BASELINE:-}" ]]; then
    base_ratios+=("$(awk -v a="${nas_ips[-1]}" -v b="$(field images_per_s "$bl")" 'BEGIN { printf "%.3f", a/b }')")
    printf '         baseline %.1f images/s, nas/baseline %s\n' "$(field images_per_s "$bl")" "${base_ratios[-1]}" >&2
  fi
done
ni=$(median "${nas_ips[@]}"); nc=$(median "${nas_cpu[@]}")
pi=$(median "${pt_ips[@]}"); pc=$(median "${pt_cpu[@]}")
printf '%-8s %14s %18s\n' side images/s images/cpu-s
printf '%-8s %14.1f %18.1f\n' nas "$ni" "$nc" pytorch "$pi" "$pc"
awk -v a="$ni" -v b="$pi" -v c="$nc" -v d="$pc" 'BEGIN { printf "nas/pytorch: %.2f (images/s), %.2f (images per CPU-second)\n", a/b, c/d }'
# Each round's ratio pairs two runs a few seconds apart, so a drift of the
# machine's speed over the rounds cancels in it.
sorted=$(printf '%s\n' "${ratios[@]}" | sort -g)
echo "per-round ratio (images/s): median $(median "${ratios[@]}"), range $(head -1 <<<"$sorted") to $(tail -1 <<<"$sorted")"
if [[ -n "${BASELINE:-}" ]]; then
  sorted=$(printf '%s\n' "${base_ratios[@]}" | sort -g)
  echo "nas/baseline per round: median $(median "${base_ratios[@]}"), range $(head -1 <<<"$sorted") to $(tail -1 <<<"$sorted")"
fi
echo "batch $BATCH, $THREADS threads, $STEPS steps x $ROUNDS rounds; nas kernels $(sed -E 's/.*"kernels":"([^"]*)".*/\1/' <<<"$n"); torch $(sed -E 's/.*"torch": "([^"]*)".*/\1/' <<<"$p")"
if [[ -n "${MARKDOWN:-}" ]]; then
  sorted=$(printf '%s\n' "${ratios[@]}" | sort -g)
  echo
  echo "| command | nas images/s | PyTorch images/s | nas/PyTorch (medians) | the rounds' own ratios |"
  echo '|---|---|---|---|---|'
  awk -v cmd="THREADS=$THREADS ROUNDS=$ROUNDS bash bench/compare_train.sh" -v a="$ni" -v b="$pi" -v c="$nc" -v d="$pc" \
    -v med="$(median "${ratios[@]}")" -v lo="$(head -1 <<<"$sorted")" -v hi="$(tail -1 <<<"$sorted")" \
    'BEGIN { printf "| `%s` | %.1f | %.1f | %.2f (%.2f per CPU-second) | median %.2f, %.2f to %.2f |\n", cmd, a, b, a/b, c/d, med, lo, hi }'
  echo
  echo "$(date -u +%F), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) CPUs)"
fi
