"""Minimal safetensors writer for the golden-data generators.

Debian has no python3-safetensors, and the format is small: an 8-byte
little-endian header length, a JSON header (dtype, shape, data offsets per
tensor, plus a "__metadata__" map of strings), then the raw data.
"""
import json
import struct

import torch

_DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save(path, tensors, metadata=None):
    """Write {name: tensor} (float32 or int64) and metadata {str: str}."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in _DTYPES:
            t = t.to(torch.float32)
        b = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
