#!/usr/bin/env bash
# compare_ort.sh: batch-1 latency at 224x224 of nas's inference plan and of
# ONNX Runtime 1.30 (CPU) on the same networks, in the same run, one thread
# and two; prints a table with the ratio nas/ORT per network, the geometric
# mean of the ratios per thread count, and the peak resident memory of both.
#
#   bash bench/compare_ort.sh                  # the five target networks
#   NETS="mobilenet_v2" ITERS=100 bash bench/compare_ort.sh
#   MARKDOWN=1 bash bench/compare_ort.sh       # the table of docs/benchmarks.md
#
# With MARKDOWN=1 the table is printed as docs/benchmarks.md holds it, and
# the last line adds the date and the CPU.
#
# Needs Debian's /usr/bin/python3 with torch and torchvision (to export the
# models), node and npm (onnxruntime-node is installed into bench/ with
# --ignore-scripts: its native library ships in the package), and Go.
# Besides wall time (median of the runs), both sides report their process's
# CPU time per run (mean over the runs): on a loaded machine, waiting for a
# core does not count in it, so its ratio is the steadier one at one thread.
# The machine should be quiet: runs alternate between nas and ORT per
# network so that background load hits both alike, but the figures are
# medians of one run, not a benchmark of record.
set -euo pipefail
cd "$(dirname "$0")"

NETS=${NETS:-"mobilenet_v2 mobilenet_v3_small shufflenet_v2_x1_0 squeezenet1_1 mnasnet1_0"}
THREADS=${THREADS:-"1 2"}
ITERS=${ITERS:-50}
ROUNDS=${ROUNDS:-3} # nas and ORT alternate this many times; the median round counts
MODELS=${MODELS:-models}

# onnxruntime-node and the ONNX models of $NETS (ort_setup.sh).
# shellcheck source=ort_setup.sh
. ./ort_setup.sh

bin=$(mktemp -d)/planrun
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./planrun

field() { sed -E "s/.*\"$1\":([0-9.e+-]+).*/\1/" <<<"$2"; }

# median_run prints the JSON line whose median_ms is the median of the
# rounds' (the lower middle one for an even count).
median_run() {
  for r in "$@"; do printf '%s\t%s\n' "$(field median_ms "$r")" "$r"; done |
    sort -g | sed -n "$(( ($# + 1) / 2 ))p" | cut -f2-
}

MARKDOWN=${MARKDOWN:-}
if [ -n "$MARKDOWN" ]; then
  echo '| network | threads | nas ms | ORT ms | nas/ORT | nas CPU ms | ORT CPU ms | CPU ratio | nas peak MB | ORT peak MB |'
  echo '|---|---|---|---|---|---|---|---|---|---|'
  rowfmt='| %s | %d | %.2f | %.2f | %s | %.2f | %.2f | %s | %.1f | %.1f |\n'
else
  printf '%-20s %7s %10s %10s %8s %11s %11s %8s %12s %12s\n' network threads nas_ms ort_ms nas/ort nas_cpu_ms ort_cpu_ms cpu_ratio nas_peak_MB ort_peak_MB
  rowfmt='%-20s %7d %10.2f %10.2f %8s %11.2f %11.2f %8s %12.1f %12.1f\n'
fi
declare -A logsum cpulogsum count
for net in $NETS; do
  for t in $THREADS; do
    nas_runs=(); ort_runs=()
    for _ in $(seq "$ROUNDS"); do
      nas_runs+=("$("$bin" -net "$net" -threads "$t" -iters "$ITERS")")
      ort_runs+=("$(node ort_run.js "$MODELS/$net.onnx" "$t" "$ITERS")")
    done
    nas=$(median_run "${nas_runs[@]}"); ort=$(median_run "${ort_runs[@]}")
    nms=$(field median_ms "$nas"); oms=$(field median_ms "$ort")
    kern=$(sed -E 's/.*"kernels":"([^"]*)".*/\1/' <<<"$nas")
    nrss=$(field peak_rss_kb "$nas"); orss=$(field peak_rss_kb "$ort")
    ncpu=$(field cpu_mean_ms "$nas"); ocpu=$(field cpu_mean_ms "$ort")
    ratio=$(awk -v a="$nms" -v b="$oms" 'BEGIN { printf "%.2f", a/b }')
    cratio=$(awk -v a="$ncpu" -v b="$ocpu" 'BEGIN { printf "%.2f", a/b }')
    # shellcheck disable=SC2059
    printf "$rowfmt" "$net" "$t" "$nms" "$oms" "$ratio" \
      "$ncpu" "$ocpu" "$cratio" \
      "$(awk -v k="$nrss" 'BEGIN{print k/1024}')" "$(awk -v k="$orss" 'BEGIN{print k/1024}')"
    logsum[$t]=$(awk -v s="${logsum[$t]:-0}" -v r="$nms" -v o="$oms" 'BEGIN { print s + log(r/o) }')
    cpulogsum[$t]=$(awk -v s="${cpulogsum[$t]:-0}" -v r="$ncpu" -v o="$ocpu" 'BEGIN { print s + log(r/o) }')
    count[$t]=$((${count[$t]:-0} + 1))
  done
done
for t in $THREADS; do
  [ "${count[$t]:-0}" -gt 0 ] || continue
  awk -v s="${logsum[$t]}" -v n="${count[$t]}" -v t="$t" 'BEGIN { printf "geometric mean nas/ORT, %d thread%s, %d networks: %.2f\n", t, t == 1 ? "" : "s", n, exp(s/n) }'
  awk -v s="${cpulogsum[$t]}" -v n="${count[$t]}" -v t="$t" 'BEGIN { printf "geometric mean of CPU time per run nas/ORT, %d thread%s, %d networks: %.2f\n", t, t == 1 ? "" : "s", n, exp(s/n) }'
done
echo "nas kernels: ${kern:-?}; ONNX Runtime $(sed -E 's/.*"ort":"([^"]*)".*/\1/' <<<"$ort")"
if [ -n "$MARKDOWN" ]; then
  echo "$(date -u +%F), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) CPUs)"
fi
