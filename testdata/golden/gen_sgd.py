"""Golden data for nas/trainer's optimizer and learning-rate schedule.

Run from anywhere with Debian's Python (it has torch):

    /usr/bin/python3 testdata/golden/gen_sgd.py

It writes testdata/golden/train/sgd_*.safetensors. Each case trains a tiny
network -- conv 3x3 (1->4, no bias) + batch norm (training mode) + ReLU +
global average pooling + linear (4->3, bias) -- for a few steps with
torch.optim.SGD (two parameter groups: conv and linear weights decay, BN
scale/shift and the linear bias do not) and a per-step schedule: SequentialLR
of LinearLR warm-up and CosineAnnealingLR, or CosineAnnealingLR alone
without warm-up. The loss is CrossEntropyLoss with label smoothing.

Tensor names are those of nas's graph ("layers.0.conv.weight",
"layers.2.fc.bias", ...). A file holds the initial weights ("init." + name),
the final weights and BN running statistics ("final." + name), the final
momentum buffers ("momentum." + name), the batches ("x<step>" N x 1 x 6 x 6,
"y<step>" int64 labels), the learning rate of every step ("lr", float32 of
the float64 values torch used, plus "lr64" in metadata as text) and the
losses; settings are metadata.
"""
import math
import os

import torch
import torch.nn.functional as F

from st import save

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train")


def case(name, steps, lr, momentum, nesterov, wd, warmup, eta_min, smoothing, seed):
    g = torch.Generator().manual_seed(seed)
    p = {
        "layers.0.conv.weight": torch.randn(4, 1, 3, 3, generator=g) * 0.5,
        "layers.0.bn.weight": 1 + 0.1 * torch.randn(4, generator=g),
        "layers.0.bn.bias": 0.1 * torch.randn(4, generator=g),
        "layers.2.fc.weight": torch.randn(3, 4, generator=g) * 0.5,
        "layers.2.fc.bias": 0.1 * torch.randn(3, generator=g),
    }
    buffers = {
        "layers.0.bn.running_mean": torch.zeros(4),
        "layers.0.bn.running_var": torch.ones(4),
    }
    init = {"init." + k: v.clone() for k, v in {**p, **buffers}.items()}
    for v in p.values():
        v.requires_grad_(True)
    decay = [p["layers.0.conv.weight"], p["layers.2.fc.weight"]]
    no_decay = [p["layers.0.bn.weight"], p["layers.0.bn.bias"], p["layers.2.fc.bias"]]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, momentum=momentum, nesterov=nesterov,
    )
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR
    if warmup > 0:
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1),
            cosine(opt, T_max=steps - warmup, eta_min=eta_min),
        ], milestones=[warmup])
    else:
        sched = cosine(opt, T_max=steps, eta_min=eta_min)

    tensors = dict(init)
    lrs, losses = [], []
    for step in range(steps):
        x = torch.randn(5, 1, 6, 6, generator=g)
        y = torch.randint(0, 3, (5,), generator=g)
        tensors["x%d" % step] = x
        tensors["y%d" % step] = y
        h = F.conv2d(x, p["layers.0.conv.weight"], padding=1)
        h = F.batch_norm(h, buffers["layers.0.bn.running_mean"], buffers["layers.0.bn.running_var"],
                         p["layers.0.bn.weight"], p["layers.0.bn.bias"], training=True, momentum=0.1, eps=1e-5)
        h = F.relu(h).mean(dim=(2, 3))
        logits = F.linear(h, p["layers.2.fc.weight"], p["layers.2.fc.bias"])
        loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
        opt.zero_grad()
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        losses.append(loss.item())
        opt.step()
        sched.step()

    # The schedule torch followed must be the closed form nas implements.
    for step, got in enumerate(lrs):
        if step < warmup:
            want = lr * (step + 1) / warmup
        else:
            want = eta_min + (lr - eta_min) * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup))) / 2
        assert abs(got - want) <= 1e-12 * lr, (name, step, got, want)

    for k, v in {**p, **buffers}.items():
        tensors["final." + k] = v.detach().clone()
    for group in opt.param_groups:
        for t in group["params"]:
            k = next(n for n, v in p.items() if v is t)
            tensors["momentum." + k] = opt.state[t]["momentum_buffer"].clone()
    tensors["lr"] = torch.tensor(lrs, dtype=torch.float32)
    tensors["loss"] = torch.tensor(losses, dtype=torch.float32)
    meta = dict(steps=steps, lr=repr(lr), momentum=repr(momentum), nesterov=int(nesterov), weight_decay=repr(wd),
                warmup=warmup, eta_min=repr(eta_min), label_smoothing=repr(smoothing),
                lr64=" ".join(repr(v) for v in lrs), torch=torch.__version__)
    save(os.path.join(OUT, "sgd_%s.safetensors" % name), tensors, meta)


def main():
    os.makedirs(OUT, exist_ok=True)
    case("momentum_warmup", steps=6, lr=0.1, momentum=0.9, nesterov=False, wd=5e-4, warmup=2, eta_min=0.0,
         smoothing=0.1, seed=1)
    case("nesterov_warmup", steps=7, lr=0.2, momentum=0.9, nesterov=True, wd=1e-3, warmup=3, eta_min=0.01,
         smoothing=0.0, seed=2)
    case("cosine_only", steps=5, lr=0.05, momentum=0.5, nesterov=False, wd=0.0, warmup=0, eta_min=0.0,
         smoothing=0.2, seed=3)


if __name__ == "__main__":
    main()
