#!/usr/bin/env bash
# Checks nas's exporters with the tools that consume their output:
# onnx.checker and PyTorch (Debian python3-onnx, python3-torch) and ONNX
# Runtime (npm onnxruntime-node 1.30.0, installed with --ignore-scripts: its
# native library ships inside the package). CI runs it from scripts/test.sh.
#
#   bash scripts/check-export.sh [WORKDIR]
#
# 1. export/internal/checkcases writes every zoo network (3x64x64, and
#    mobilenet_v2 at 3x224x224), networks sampled from each built-in search
#    space, and random graphs using every
#    primitive op, each with seeded weights, input, ONNX and PyTorch files;
# 2. `nas export` writes one network from the command line, checked the same way;
# 3. run_onnx.mjs runs the ONNX models with ONNX Runtime;
# 4. check_export.py runs onnx.checker, loads the PyTorch modules with the
#    weights, checks parameter counts and compares outputs (1e-4 relative).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
check=scripts/export-check
. scripts/consumers.sh
install_consumers

if [ $# -ge 1 ]; then
  work=$1
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
echo "check-export: writing cases to $work"
go build -o "$work/nas" ./cmd/nas
go run ./export/internal/checkcases -out "$work/cases"

# One network through the command line: export with seeded weights, write
# them, and hand the files to the same checks as a case of its own.
cli="$work/cases/cli_mobilenet_v2"
mkdir -p "$cli"
flags=(--input 3x32x32 --classes 10)
if msg=$("$work/nas" export mobilenet_v2 "${flags[@]}" --seed 7 --format onnx -o "$cli/model.onnx" \
    --write-weights "$cli/weights.safetensors" 2>&1); then
  "$work/nas" export mobilenet_v2 "${flags[@]}" --seed 7 --format onnx --fold-bn -o "$cli/model_folded.onnx"
  "$work/nas" export mobilenet_v2 "${flags[@]}" --format pytorch -o "$cli/model.py"
  /usr/bin/python3 - "$work/cases" <<'PY'
import json, os, random, struct, sys
root = sys.argv[1]
d = os.path.join(root, "cli_mobilenet_v2")
rng = random.Random(7)  # the input: 2 x 3 x 32 x 32, seeded, as safetensors
n = 2 * 3 * 32 * 32
header = json.dumps({"input": {"dtype": "F32", "shape": [2, 3, 32, 32], "data_offsets": [0, 4 * n]}}).encode()
header += b" " * (-len(header) % 8)
with open(os.path.join(d, "input.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + struct.pack(f"<{n}f", *(rng.gauss(0, 1) for _ in range(n))))
with open(os.path.join(root, "manifest.json")) as f:
    m = json.load(f)
m["cases"].append({"name": "cli_mobilenet_v2", "dir": "cli_mobilenet_v2", "params": None,
                   "input": [2, 3, 32, 32], "onnx": ["model.onnx", "model_folded.onnx"]})
with open(os.path.join(root, "manifest.json"), "w") as f:
    json.dump(m, f, indent=2)
PY
else
  echo "check-export: nas export failed: $msg" >&2
  exit 1
fi

node "$check/run_onnx.mjs" "$work/cases"
/usr/bin/python3 "$check/check_export.py" "$work/cases"
