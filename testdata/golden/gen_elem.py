"""Golden data for nas/blocks/nn's elementwise and channel operators.

Run from anywhere with Debian's Python (it has torch):

    /usr/bin/python3 testdata/golden/gen_elem.py

It writes testdata/golden/ops/{bn,act,shuffle,split,concat,slice,add,mulch,
xent,prelu}_*.safetensors. Each file holds the inputs, the outputs, an upstream
gradient "gy" (for ops with several outputs, "gy0", "gy1", ...) and the
gradients PyTorch computed from it ("g" + input name), with the settings as
metadata. Shapes are small and deliberately awkward (channels not a multiple
of 8, odd H and W). Dropout has no golden file: PyTorch's RNG cannot be
matched, so the Go tests check it statistically and through its mask.
"""
import os

import torch
import torch.nn.functional as F

from st import save

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")


def leaf(t):
    return t.clone().requires_grad_(True)


def write(name, tensors, meta=None):
    save(os.path.join(OUT, name + ".safetensors"), tensors, meta or {})


def backward(outputs, inputs):
    """Seed each output with a random upstream gradient, return them."""
    gys = [torch.randn_like(o) for o in outputs]
    torch.autograd.backward(outputs, gys)
    return gys


def batchnorm():
    cases = [
        # name, shape, train, eps, momentum
        ("bn_train", (3, 5, 7, 9), True, 1e-5, 0.1),
        ("bn_train_eps3", (2, 13, 5, 3), True, 1e-3, 0.01),
        ("bn_train_nc", (6, 11), True, 1e-5, 0.1),
        ("bn_eval", (2, 7, 5, 3), False, 1e-3, 0.1),
    ]
    for name, shape, train, eps, mom in cases:
        c = shape[1]
        bn = torch.nn.BatchNorm2d(c, eps=eps, momentum=mom) if len(shape) == 4 else torch.nn.BatchNorm1d(c, eps=eps, momentum=mom)
        with torch.no_grad():
            bn.weight.copy_(torch.rand(c) + 0.5)
            bn.bias.copy_(torch.randn(c))
            bn.running_mean.copy_(torch.randn(c))
            bn.running_var.copy_(torch.rand(c) + 0.5)
        t = {"weight": bn.weight.detach().clone(), "bias": bn.bias.detach().clone(),
             "running_mean": bn.running_mean.clone(), "running_var": bn.running_var.clone()}
        # A non-zero mean and spread per channel, as after a convolution.
        shift = torch.randn(c).view(1, c, *([1] * (len(shape) - 2))) * 3
        x = leaf(torch.randn(shape) * 2 + shift)
        bn.train(train)
        y = bn(x)
        (gy,) = backward([y], [x])
        t.update(x=x, y=y, gy=gy, gx=x.grad, gweight=bn.weight.grad, gbias=bn.bias.grad,
                 running_mean_out=bn.running_mean, running_var_out=bn.running_var)
        write(name, t, {"train": int(train), "eps": repr(eps), "momentum": repr(mom)})


def activations():
    acts = {
        "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid,
        "hsigmoid": F.hardsigmoid, "swish": F.silu, "hswish": F.hardswish,
    }
    # Random values over the interesting range plus every kink exactly. The
    # tensor is large enough (>= 16 elements) for PyTorch's vectorized CPU
    # loops, which for hardswish at exactly 3 give another gradient (1) than
    # the scalar tail loop (1.5); nn follows the vectorized one.
    base = torch.cat([torch.randn(2 * 3 * 5 * 7 - 10) * 4,
                      torch.tensor([-3.0, 0.0, 3.0, 6.0, -6.0, 7.5, -20.0, 20.0, 1e-3, -1e-3])])
    base = base[torch.randperm(base.numel())].view(2, 3, 5, 7)
    for name, f in acts.items():
        x = leaf(base)
        y = f(x)
        (gy,) = backward([y], [x])
        write("act_" + name, {"x": x, "y": y, "gy": gy, "gx": x.grad}, {"act": name})


def channel_ops():
    # ShuffleNet's channel shuffle, written as torchvision does.
    for groups, shape in [(3, (2, 12, 5, 3)), (2, (3, 6, 3, 5))]:
        x = leaf(torch.randn(shape))
        n, c, h, w = shape
        y = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        (gy,) = backward([y], [x])
        write("shuffle_g%d" % groups, {"x": x, "y": y, "gy": gy, "gx": x.grad}, {"groups": groups})

    x = leaf(torch.randn(2, 11, 3, 5))
    ys = torch.split(x, [4, 2, 5], dim=1)
    gys = backward(list(ys), [x])
    t = {"x": x, "gx": x.grad}
    for i, (y, gy) in enumerate(zip(ys, gys)):
        t["y%d" % i], t["gy%d" % i] = y, gy
    write("split_4_2_5", t, {"sizes": "4,2,5"})

    a, b, c = leaf(torch.randn(2, 3, 5, 3)), leaf(torch.randn(2, 7, 5, 3)), leaf(torch.randn(2, 1, 5, 3))
    y = torch.cat([a, b, c], dim=1)
    (gy,) = backward([y], [a, b, c])
    write("concat_3_7_1", {"a": a, "b": b, "c": c, "y": y, "gy": gy, "ga": a.grad, "gb": b.grad, "gc": c.grad})

    for start, end in [(0, 9), (3, 7)]:
        x = leaf(torch.randn(3, 13, 3, 3))
        y = x[:, start:end]
        (gy,) = backward([y], [x])
        write("slice_%d_%d" % (start, end), {"x": x, "y": y, "gy": gy, "gx": x.grad}, {"start": start, "end": end})


def elementwise():
    a, b = leaf(torch.randn(2, 5, 7, 3)), leaf(torch.randn(2, 5, 7, 3))
    y = a + b
    (gy,) = backward([y], [a, b])
    write("add_same", {"a": a, "b": b, "y": y, "gy": gy, "ga": a.grad, "gb": b.grad})

    x, s = leaf(torch.randn(3, 11, 5, 7)), leaf(torch.rand(3, 11, 1, 1))
    y = x * s
    (gy,) = backward([y], [x, s])
    write("mulch_se", {"x": x, "s": s, "y": y, "gy": gy, "gx": x.grad, "gs": s.grad})


def cross_entropy():
    for smoothing in [0.0, 0.1]:
        logits = leaf(torch.randn(5, 7) * 3)
        labels = torch.tensor([0, 6, 3, 3, 1], dtype=torch.int64)
        loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
        loss.backward()
        write("xent_ls%02d" % round(smoothing * 100),
              {"logits": logits, "labels": labels, "loss": loss.reshape(1), "glogits": logits.grad},
              {"smoothing": repr(smoothing)})


def prelu():
    # ESPNetv2's activation: one learnable slope per channel.
    for name, shape in [("prelu_nchw", (2, 5, 3, 7)), ("prelu_c1", (3, 1, 4, 4))]:
        c = shape[1]
        x = leaf(torch.randn(shape) * 2)
        w = leaf(torch.rand(c) * 0.5 - 0.1)
        y = F.prelu(x, w)
        (gy,) = backward([y], [x, w])
        write(name, {"x": x, "weight": w, "y": y, "gy": gy, "gx": x.grad, "gweight": w.grad})


def main():
    torch.manual_seed(20261127)
    os.makedirs(OUT, exist_ok=True)
    batchnorm()
    activations()
    channel_ops()
    elementwise()
    cross_entropy()
    prelu()


if __name__ == "__main__":
    main()
