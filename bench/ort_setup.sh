# ort_setup.sh, sourced by compare_ort.sh and compare_ort_steps.sh from
# bench/: installs onnxruntime-node where it is missing and exports the
# ONNX models of $NETS into $MODELS where they are missing.
# The package ships ONNX Runtime for linux/x64 and linux/arm64 (the same
# script runs on an arm64 board).
case "$(uname -m)" in
  x86_64) ort_arch=x64 ;;
  aarch64 | arm64) ort_arch=arm64 ;;
  *) ort_arch=$(uname -m) ;;
esac
if [ ! -f "node_modules/onnxruntime-node/bin/napi-v6/linux/$ort_arch/libonnxruntime.so.1" ]; then
  npm install --ignore-scripts --no-audit --no-fund >&2
fi
node -e "require('onnxruntime-node')" || { echo "ort_setup.sh: onnxruntime-node does not load (see npm install above)" >&2; exit 1; }

# The export needs torch and torchvision; where the models are already in
# $MODELS (copied from another machine to a board without PyTorch), it is
# skipped.
missing_models=0
for net in $NETS; do
  [ -f "$MODELS/$net.onnx" ] || missing_models=1
done
if [ "$missing_models" = 1 ]; then
  # shellcheck disable=SC2086
  /usr/bin/python3 export_onnx.py "$MODELS" $NETS
fi

