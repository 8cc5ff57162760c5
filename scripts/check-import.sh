#!/usr/bin/env bash
# The ONNX import round trip, checked against the tools that made and run
# the models: torchvision's networks exported with Debian's PyTorch
# (python3-torch, python3-torchvision, python3-onnx) and ONNX Runtime (npm
# onnxruntime-node, the runner of scripts/export-check). CI runs it from
# scripts/test.sh.
#
#   bash scripts/check-import.sh [WORKDIR]
#
# 1. export_zoo.py exports each torchvision network with seeded random
#    weights, in eval mode (batch norms folded by the exporter; two networks
#    also with them kept), at 3x64x64;
# 2. `nas import` writes its arch and weights; `nas inspect` counts the zoo
#    network of the same name; importrun runs the imported network with
#    nas's executor; `nas export` writes it back to ONNX, imported again;
# 3. run_onnx.mjs runs the original and the re-exported models with ONNX
#    Runtime;
# 4. check_import.py compares params/MACs, outputs (1e-4 relative) and the
#    round trip.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
check=scripts/import-check
runner=scripts/export-check
. scripts/consumers.sh
install_consumers

if [ $# -ge 1 ]; then
  work=$1
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
echo "check-import: working in $work"
go build -o "$work/nas" ./cmd/nas
go build -o "$work/importrun" ./onnximport/internal/importrun
cases="$work/cases"
side=64
/usr/bin/python3 "$check/export_zoo.py" "$cases" --side $side

for d in "$cases"/*/; do
  d=${d%/}
  zoo=$(basename "$d")
  zoo=${zoo%_bn}
  "$work/nas" import "$d/model.onnx" -o "$d/arch.json" --weights-out "$d/weights.safetensors" --json > "$d/import.json"
  "$work/nas" inspect "$zoo" --input 3x${side}x${side} --json > "$d/inspect.json"
  "$work/importrun" "$d/arch.json" "$d/weights.safetensors" "$d/input.safetensors" "$d/nas.safetensors"
  "$work/nas" export "$d/arch.json" --weights "$d/weights.safetensors" --format onnx -o "$d/re.onnx" 2>/dev/null
  "$work/nas" import "$d/re.onnx" -o "$d/re_arch.json" --weights-out "$d/re_weights.safetensors" --json > "$d/re_import.json"
done
# ONNX Runtime runs both the original and nas's re-export of every case.
/usr/bin/python3 - "$cases" <<'PY'
import json, sys
p = sys.argv[1] + "/manifest.json"
m = json.load(open(p))
for c in m["cases"]:
    c["onnx"] = ["model.onnx", "re.onnx"]
json.dump(m, open(p, "w"), indent=2)
PY
node "$runner/run_onnx.mjs" "$cases"
/usr/bin/python3 "$check/check_import.py" "$cases"
echo "check-import: $((SECONDS - start)) s"
