"""Count torchvision's params and MACs for the ShuffleNet V2 and SqueezeNet
networks of the zoo, the way the Go zoo tests compare them: every parameter
(BN scale and shift included, running statistics not), and the
multiply-accumulates of Conv2d and Linear layers only, measured with forward
hooks on one 3x224x224 image with 1000 classes.

Run with Debian's Python (torch 1.13, torchvision 0.14):

    /usr/bin/python3 testdata/zoo/count_torchvision_shuffle_squeeze.py \
        > testdata/zoo/torchvision_counts_shuffle_squeeze.json
"""
import json
import sys

import torch
import torchvision

NETWORKS = [
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
]


def count(name):
    model = getattr(torchvision.models, name)(weights=None, num_classes=1000)
    model.eval()
    macs = 0

    def conv_hook(module, inputs, output):
        nonlocal macs
        k = module.weight.numel() // module.out_channels  # in/groups * kh * kw
        macs += output.numel() * k

    def linear_hook(module, inputs, output):
        nonlocal macs
        macs += output.numel() * module.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "macs": macs}


def main():
    out = {
        "input": [3, 224, 224],
        "classes": 1000,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "networks": {name: count(name) for name in NETWORKS},
    }
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
