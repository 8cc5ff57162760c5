# Sourced by check-export.sh and check-import.sh: installs what the
# consumers of nas's ONNX and PyTorch files need, when it is missing:
# Debian's python3-onnx, python3-torch and python3-torchvision, node and npm,
# and the npm package onnxruntime-node (1.30.0, --ignore-scripts: its native
# library ships inside the package) into scripts/export-check.
install_consumers() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  local missing=()
  for p in python3-onnx python3-torch python3-torchvision; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  # node and npm may come from another package set (NodeSource's nodejs
  # carries npm); ask Debian only when the commands are missing.
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
  if [ ! -f scripts/export-check/node_modules/onnxruntime-node/package.json ]; then
    (cd scripts/export-check && npm ci --ignore-scripts --no-audit --no-fund)
  fi
}
