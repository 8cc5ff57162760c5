"""PyTorch (CPU) side of the training-throughput comparison of nas.

Trains the same network as `nas train` -- exported by nas itself as PyTorch
code, so the layers, shapes and parameter names are identical -- with the
same settings (SGD with Nesterov momentum 0.9, weight decay 4e-5 on conv and
linear weights only, label smoothing 0.1, batch 64, BN in training mode) on
random 1x28x28 batches, and prints images/s of forward + backward + update.

    go build -o /tmp/nas ./cmd/nas
    /usr/bin/python3 bench/train_torch.py --nas /tmp/nas mobilenet_v2 --width 0.5 --threads 2

Compare with the Go side on the same machine, same moment:

    go test ./trainer -run '^$' -bench TrainStep -benchtime 5x -cpu 2

Data loading and augmentation are left out on both sides (the Go benchmark
feeds one fixed batch too).
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F


def export(nas, arch, width, input_shape, classes):
    out = os.path.join(tempfile.mkdtemp(prefix="nas-torch-"), "net.py")
    cmd = [nas, "export", arch, "--format", "pytorch", "-o", out]
    if not os.path.exists(arch) and "|" not in arch:  # a zoo name
        cmd += ["--input", input_shape, "--classes", str(classes)]
        if width:
            cmd += ["--width", str(width)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    spec = importlib.util.spec_from_file_location("nasnet", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Net()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch", help="zoo name, arch string or arch JSON file, as `nas train` takes")
    ap.add_argument("--nas", default="nas", help="the nas binary")
    ap.add_argument("--width", type=float, default=0)
    ap.add_argument("--input", default="1x28x28")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    net = export(args.nas, args.arch, args.width, args.input, args.classes).train()
    decay = [p for n, p in net.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in net.named_parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 4e-5}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9, nesterov=True)
    c, h, w = (int(v) for v in args.input.split("x"))
    x = torch.randn(args.batch, c, h, w)
    y = torch.randint(0, args.classes, (args.batch,))

    def step():
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    print(f"{args.arch} width {args.width or 1}: {args.batch * args.steps / elapsed:.1f} images/s "
          f"(torch {torch.__version__}, {args.threads} threads, batch {args.batch})")


if __name__ == "__main__":
    sys.exit(main())
