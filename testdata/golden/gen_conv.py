"""Golden data for convolution, pooling and linear (nas/blocks/nn).

Run from the repository root with Debian's Python (it has torch):

    /usr/bin/python3 testdata/golden/gen_conv.py

Each case file testdata/golden/ops/<name>.safetensors holds the inputs x, w
(and b), the output y, a random upstream gradient gy and the gradients
PyTorch computes from it (gx, gw, gb), with the settings as metadata. Inputs
are drawn in float32 and the reference is computed in float64 from them, so
the stored outputs are the float32 rounding of (nearly) exact values.
"""
import os

import torch
import torch.nn.functional as F

import st

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def run(name, fn, inputs, meta):
    """fn(*inputs as float64 leaves) -> y; saves inputs, y, gy and grads."""
    leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items()}
    y = fn(**leaves)
    gy = randn(*y.shape)
    y.backward(gy.double())
    tensors = dict(inputs)
    tensors["y"] = y.detach().float()
    tensors["gy"] = gy
    for k, v in leaves.items():
        tensors["g" + k] = v.grad.float()
    st.save(os.path.join(OUT, name + ".safetensors"), tensors, meta)


def conv(name, n, cin, cout, h, w, k, stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1, bias=False):
    kh, kw = k
    inputs = {"x": randn(n, cin, h, w), "w": randn(cout, cin // groups, kh, kw)}
    if bias:
        inputs["b"] = randn(cout)
    meta = dict(kh=kh, kw=kw, sh=stride[0], sw=stride[1], ph=pad[0], pw=pad[1],
                dh=dil[0], dw=dil[1], groups=groups, bias=int(bias))

    def fn(x, w, b=None):
        return F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)

    run("conv2d_" + name, fn, inputs, meta)


def pool(kind, name, n, c, h, w, k, stride, pad=(0, 0), ceil=False):
    # Distinct values a fixed step apart, so that no two elements of a max
    # window tie and the winner (hence the gradient) is unambiguous.
    x = (torch.randperm(n * c * h * w).float() * 0.1 - 3).reshape(n, c, h, w) if kind == "maxpool" else randn(n, c, h, w)
    meta = dict(kh=k[0], kw=k[1], sh=stride[0], sw=stride[1], ph=pad[0], pw=pad[1], ceil=int(ceil))
    if kind == "maxpool":
        def fn(x):
            return F.max_pool2d(x, k, stride, pad, ceil_mode=ceil)
    else:
        def fn(x):
            return F.avg_pool2d(x, k, stride, pad, ceil_mode=ceil, count_include_pad=True)
    run(kind + "_" + name, fn, {"x": x}, meta)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20240611)

    conv("3x3_s2_odd_bias", 2, 3, 5, 11, 11, (3, 3), (2, 2), (1, 1), bias=True)
    conv("1x1", 3, 12, 7, 5, 6, (1, 1))
    conv("1x1_s2", 2, 8, 6, 7, 9, (1, 1), (2, 2))
    conv("1x1_g3", 2, 12, 15, 5, 4, (1, 1), groups=3)  # ShuffleNet V1 grouped pointwise
    conv("3x3_g3_bias", 2, 6, 9, 8, 7, (3, 3), (1, 1), (1, 1), groups=3, bias=True)
    conv("dw3x3_s2", 2, 10, 10, 9, 9, (3, 3), (2, 2), (1, 1), groups=10)
    conv("dw5x5_bias", 3, 7, 7, 10, 8, (5, 5), (1, 1), (2, 2), groups=7, bias=True)
    conv("dw7x7_s2", 2, 5, 5, 13, 11, (7, 7), (2, 2), (3, 3), groups=5)
    conv("dw3x3_mult2", 2, 4, 8, 6, 7, (3, 3), (1, 2), (1, 1), groups=4)
    conv("dw3x3_dil2", 2, 5, 5, 11, 9, (3, 3), (2, 1), (2, 2), (2, 2), groups=5)
    conv("3x3_dil2", 2, 5, 6, 9, 10, (3, 3), (1, 1), (2, 2), (2, 2))
    conv("1x3", 2, 4, 3, 6, 9, (1, 3), (1, 2), (0, 1))
    conv("3x1", 3, 4, 3, 9, 6, (3, 1), (2, 1), (1, 0), bias=True)
    conv("7x7_s2_stem", 2, 3, 6, 15, 13, (7, 7), (2, 2), (3, 3))
    conv("5x5_s3_pad_asym", 2, 2, 3, 5, 7, (5, 5), (3, 1), (2, 3))

    pool("maxpool", "3x3_s2_ceil", 2, 3, 10, 10, (3, 3), (2, 2), ceil=True)
    pool("maxpool", "3x3_s2_p1", 2, 3, 11, 9, (3, 3), (2, 2), (1, 1))
    pool("maxpool", "2x2", 3, 2, 6, 7, (2, 2), (2, 2))
    pool("maxpool", "2x3_rect_ceil", 2, 3, 7, 8, (2, 3), (1, 2), (1, 1), ceil=True)
    pool("avgpool", "3x3_s2_p1_ceil", 2, 3, 10, 9, (3, 3), (2, 2), (1, 1), ceil=True)
    pool("avgpool", "2x2", 3, 2, 6, 7, (2, 2), (2, 2))
    pool("avgpool", "2x3_rect_ceil", 2, 3, 7, 8, (2, 3), (1, 2), (1, 1), ceil=True)

    run("gap_n3", lambda x: x.mean(dim=(2, 3), keepdim=True), {"x": randn(3, 5, 7, 6)}, {})

    def lin(x, w, b=None):
        return F.linear(x.flatten(1), w, b)

    run("linear_bias", lin, {"x": randn(3, 20), "w": randn(7, 20), "b": randn(7)}, {"bias": 1})
    run("linear_nobias", lin, {"x": randn(2, 9), "w": randn(4, 9)}, {"bias": 0})
    run("linear_flatten", lin, {"x": randn(2, 4, 3, 3), "w": randn(10, 36), "b": randn(10)}, {"bias": 1})


if __name__ == "__main__":
    main()
