"""Export torchvision networks to ONNX for bench/compare_ort.sh.

Usage: /usr/bin/python3 export_onnx.py OUTDIR NAME...

Weights are random (weights=None): latency does not depend on them, and
nothing is downloaded. Batch 1, 3x224x224, opset 13; a model already in
OUTDIR is kept.
"""
import os
import sys

import torch
import torchvision


def main():
    out, names = sys.argv[1], sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name in names:
        path = os.path.join(out, name + ".onnx")
        if os.path.exists(path):
            continue
        model = getattr(torchvision.models, name)(weights=None).eval()
        x = torch.randn(1, 3, 224, 224)
        torch.onnx.export(model, x, path, opset_version=13,
                          input_names=["input"], output_names=["output"])
        print("exported", path, file=sys.stderr)


if __name__ == "__main__":
    main()
