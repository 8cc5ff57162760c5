#!/usr/bin/python3
"""Golden data for nn.SoftCrossEntropyOf: torch.nn.functional.cross_entropy
with probability targets (the loss of in-place distillation), its value and
its gradient with respect to the logits, written to
ops/softxent_*.safetensors with the logits, the targets and the divisor
"batch" (the loss is the sum over the samples divided by it, as one shard
of a larger batch computes it).

Run with Debian's python3-torch: /usr/bin/python3 gen_softxent.py
"""
import os

import torch
import torch.nn.functional as F

from st import save

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")


def main():
    torch.manual_seed(20261206)
    os.makedirs(OUT, exist_ok=True)
    for name, n, k, batch, scale in [("softxent_5x7", 5, 7, 5, 3.0), ("softxent_shard", 3, 10, 8, 6.0)]:
        logits = (torch.randn(n, k) * scale).requires_grad_(True)
        soft = torch.softmax(torch.randn(n, k) * 2, dim=1)
        loss = F.cross_entropy(logits, soft, reduction="sum") / batch
        loss.backward()
        save(os.path.join(OUT, name + ".safetensors"),
             {"logits": logits.detach(), "soft": soft, "loss": loss.detach().reshape(1), "glogits": logits.grad},
             {"batch": str(batch)})


if __name__ == "__main__":
    main()
