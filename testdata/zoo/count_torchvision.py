#!/usr/bin/python3
"""Count params and MACs of torchvision's MobileNet-family models.

Run with Debian's interpreter (torch 1.13, torchvision 0.14):

    /usr/bin/python3 testdata/zoo/count_torchvision.py > testdata/zoo/torchvision_counts.json

The counting follows docs/zoo.md and DESIGN.md: params are all learnable
parameters (BN scale and shift included, running statistics not); MACs are
those of Conv2d and Linear layers only, measured with forward hooks on one
3x224x224 sample: a Conv2d does out_elements * in_channels/groups * kh * kw,
a Linear in_features * out_features. BN, activations, pooling, adds and SE
gating multiplies are not counted. The Go tests in space compare the zoo
against this file, so they run without torch.
"""

import json
import sys

import torch
import torchvision
from torchvision.models import mnasnet, mobilenetv2, mobilenetv3, efficientnet

INPUT = (3, 224, 224)
CLASSES = 1000


def mobilenet_v3(arch, width):
    # torchvision's mobilenet_v3_* builders take no width; build it the way
    # they do, with the width passed to the configuration.
    setting, last = mobilenetv3._mobilenet_v3_conf(arch, width_mult=width)
    return mobilenetv3.MobileNetV3(setting, last, num_classes=CLASSES)


# (zoo name, width, constructor)
MODELS = [
    *[("mobilenet_v2", w, lambda w=w: mobilenetv2.MobileNetV2(num_classes=CLASSES, width_mult=w))
      for w in (0.5, 0.75, 1.0, 1.4)],
    *[("mobilenet_v3_large", w, lambda w=w: mobilenet_v3("mobilenet_v3_large", w))
      for w in (0.5, 0.75, 1.0, 1.25)],
    *[("mobilenet_v3_small", w, lambda w=w: mobilenet_v3("mobilenet_v3_small", w))
      for w in (0.5, 0.75, 1.0, 1.25)],
    *[("mnasnet1_0", w, lambda w=w: mnasnet.MNASNet(w, num_classes=CLASSES))
      for w in (0.5, 0.75, 1.0, 1.3)],
    ("efficientnet_b0", 1.0, lambda: efficientnet.efficientnet_b0(num_classes=CLASSES)),
]


def count(model):
    macs = 0

    def conv_hook(m, inputs, out):
        nonlocal macs
        kh, kw = m.kernel_size
        macs += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m, inputs, out):
        nonlocal macs
        macs += out[0].numel() * m.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear_hook)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *INPUT))
    params = sum(p.numel() for p in model.parameters())
    return params, macs


def main():
    torch.manual_seed(0)
    rows = []
    for name, width, build in MODELS:
        params, macs = count(build())
        rows.append({"name": name, "width": width, "params": params, "macs": macs})
    json.dump({
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "input": list(INPUT),
        "classes": CLASSES,
        "counting": "params: all parameters; macs: Conv2d and Linear only, per sample",
        "models": rows,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
