"""Exports torchvision networks to ONNX for scripts/check-import.sh.

For each network: torchvision's module with seeded random weights (batch
norms given non-trivial statistics and affine parameters, so that a check
really tests them), in eval mode, exported with torch.onnx.export (opset 13,
input "input" N x 3 x S x S, output "logits", dynamic batch), the way a user
brings a PyTorch model to nas. By default torch.onnx.export folds each batch
norm into the convolution before it; the "_bn" cases keep them
(training=TrainingMode.PRESERVE). Each case directory gets model.onnx and
input.safetensors (2 seeded samples); manifest.json lists the cases in the
form scripts/export-check/run_onnx.mjs reads.

    /usr/bin/python3 scripts/import-check/export_zoo.py DIR [--side 64]
"""
import argparse
import json
import os
import struct
import warnings

import torch
import torchvision

NETWORKS = [
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
    "mnasnet1_0",
    "efficientnet_b0",
]
# Networks also exported with their batch norms kept as nodes.
KEEP_BN = ["mobilenet_v2", "mobilenet_v3_small"]


def write_safetensors(path, name, t):
    t = t.detach().contiguous().float()
    n = t.numel()
    header = json.dumps({name: {"dtype": "F32", "shape": list(t.shape), "data_offsets": [0, 4 * n]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.write(struct.pack(f"<{n}f", *t.flatten().tolist()))


def randomize(model, gen, side):
    """Non-trivial batch-norm parameters and statistics, biases, and linear
    weights scaled so that the logits depend on the input. The running
    statistics are those of random inputs (a cumulative average over a few
    training-mode batches), so that activations neither vanish nor saturate
    through a deep random network."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)
                m.reset_running_stats()
                m.momentum = None
            elif isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, 1 / m.in_features ** 0.5, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0, 0.1, generator=gen)
        model.train()
        for _ in range(2):
            model(torch.randn(8, 3, side, side, generator=gen))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated subset of the networks")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else NETWORKS
    cases = []
    for i, name in enumerate(names):
        for keep_bn in ([False, True] if name in KEEP_BN else [False]):
            case = name + ("_bn" if keep_bn else "")
            torch.manual_seed(args.seed + i)
            gen = torch.Generator().manual_seed(args.seed + i)
            model = getattr(torchvision.models, name)(weights=None)
            randomize(model, gen, args.side)
            model.eval()
            d = os.path.join(args.dir, case)
            os.makedirs(d, exist_ok=True)
            x = torch.randn(2, 3, args.side, args.side, generator=gen)
            kw = {"training": torch.onnx.TrainingMode.PRESERVE} if keep_bn else {}
            torch.onnx.export(model, x[:1], os.path.join(d, "model.onnx"), opset_version=13,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, **kw)
            write_safetensors(os.path.join(d, "input.safetensors"), "input", x)
            cases.append({"name": case, "dir": case, "zoo": name, "keep_bn": keep_bn,
                          "input": [2, 3, args.side, args.side], "onnx": ["model.onnx"]})
            print(f"export_zoo: {case}", flush=True)
    with open(os.path.join(args.dir, "manifest.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=2)


if __name__ == "__main__":
    main()
