#!/usr/bin/env bash
# compare_ort_steps.sh: where nas's plan spends its time beside ONNX
# Runtime, convolution by convolution: one network at 224x224, batch 1,
# one thread. ONNX Runtime profiles ITERS runs (bench/ort_run.js with a
# profile prefix; the profiling adds to its times), then planrun times each
# plan step over as many runs and sets every convolution (with the padding
# or im2col step before it) beside the Conv node of the same rank in the
# profile, with the ratio of their median times.
#
#   bash bench/compare_ort_steps.sh                  # mnasnet1_0
#   NET=squeezenet1_1 ITERS=200 bash bench/compare_ort_steps.sh
#
# Needs what bench/compare_ort.sh needs. The two sides run one after the
# other, not alternating: on a shared machine, run it twice.
set -euo pipefail
cd "$(dirname "$0")"

NET=${NET:-mnasnet1_0}
NETS=$NET
ITERS=${ITERS:-100}
MODELS=${MODELS:-models}

# shellcheck source=ort_setup.sh
. ./ort_setup.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/planrun" ./planrun
line=$(node ort_run.js "$MODELS/$NET.onnx" 1 "$ITERS" "$tmp/ort")
profile=$(sed -E 's/.*"profile":"([^"]*)".*/\1/' <<<"$line")
"$tmp/planrun" -net "$NET" -steps -iters "$ITERS" -ort-profile "$profile"
