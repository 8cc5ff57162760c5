"""List the state-dict tensors of the torchvision networks of the zoo, in
order, with their shapes (num_batches_tracked left out), so that the Go
tests can check that a lowered zoo network holds the same tensors in the
same order: the one-to-one map that loading torchvision weights and
comparing outputs with PyTorch rely on.

Run with Debian's Python (torch 1.13, torchvision 0.14):

    /usr/bin/python3 testdata/zoo/torchvision_param_shapes.py \
        > testdata/zoo/torchvision_param_shapes.json
"""
import json
import sys

import torchvision

NETWORKS = [
    "efficientnet_b0",
    "mnasnet1_0",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "shufflenet_v2_x1_0",
    "squeezenet1_0",
    "squeezenet1_1",
]


def main():
    out = {}
    for name in NETWORKS:
        model = getattr(torchvision.models, name)(weights=None, num_classes=1000)
        out[name] = [
            [key, list(t.shape)]
            for key, t in model.state_dict().items()
            if not key.endswith("num_batches_tracked")
        ]
    lines = ["{"]
    for i, name in enumerate(NETWORKS):
        sep = "," if i < len(NETWORKS) - 1 else ""
        entries = ",\n    ".join(json.dumps(e) for e in out[name])
        lines.append(f'  "{name}": [\n    {entries}\n  ]{sep}')
    lines.append("}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
