"""Checks the ONNX import round trip of scripts/check-import.sh.

For every case of the manifest (see export_zoo.py), from the files the
script wrote next to model.onnx:
  (a) `nas import`'s params and MACs equal `nas inspect` of the same zoo
      network at the same input (import.json, inspect.json);
  (b) nas's outputs on input.safetensors (nas.safetensors, nas's executor
      on the imported arch and weights) equal ONNX Runtime's on model.onnx
      (ort_model.safetensors) within a relative error
      max|a - b| / max|b| of 1e-4, and the two samples' outputs differ;
  (c) `nas export` of the imported network (re.onnx), imported again,
      gives the same arch and bit-identical weights, and ONNX Runtime's
      outputs on it equal those on model.onnx within 1e-4.

    /usr/bin/python3 scripts/import-check/check_import.py DIR

Prints one line per case and "N passed, N failed"; exits 1 on any failure.
"""
import json
import os
import struct
import sys

TOLERANCE = 1e-4


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: {name}: dtype {e['dtype']}")
        out[name] = (e["shape"], struct.unpack(f"<{(hi - lo) // 4}f", b[8 + n + lo:8 + n + hi]))
    return out


def relative_error(a, b):
    scale = max(abs(x) for x in b)
    return max(abs(x - y) for x, y in zip(a, b)) / max(scale, 1e-30)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def check_case(root, case):
    d = os.path.join(root, case["dir"])
    problems = []
    imp = load_json(os.path.join(d, "import.json"))
    ins = load_json(os.path.join(d, "inspect.json"))
    if (imp["params"], imp["macs"]) != (ins["params"], ins["macs"]):
        problems.append(f"params/MACs {imp['params']}/{imp['macs']}, nas inspect {case['zoo']}: {ins['params']}/{ins['macs']}")
    nas = read_safetensors(os.path.join(d, "nas.safetensors"))["logits"]
    ort = read_safetensors(os.path.join(d, "ort_model.safetensors"))["logits"]
    if nas[0] != ort[0]:
        problems.append(f"nas output shape {nas[0]}, ONNX Runtime {ort[0]}")
    err = relative_error(nas[1], ort[1])
    if err > TOLERANCE:
        problems.append(f"nas vs ONNX Runtime: relative error {err:.2e} > {TOLERANCE}")
    k = ort[0][1]
    spread = relative_error(ort[1][:k], ort[1][k:2 * k])
    if spread < 1e-3:
        problems.append(f"the two samples' outputs differ by only {spread:.1e}: the check would be blind")
    # (c) the round trip through nas export.
    re_imp = load_json(os.path.join(d, "re_import.json"))
    if re_imp["arch"] != imp["arch"]:
        problems.append(f"re-imported arch differs:\n    {re_imp['arch']}\n    {imp['arch']}")
    if not re_imp["from_metadata"]:
        problems.append("the re-import did not find the arch in nas's ONNX metadata")
    w1 = read_safetensors(os.path.join(d, "weights.safetensors"))
    w2 = read_safetensors(os.path.join(d, "re_weights.safetensors"))
    if w1 != w2:
        diff = sorted(set(w1) ^ set(w2)) or [n for n in w1 if w1[n] != w2[n]]
        problems.append(f"re-imported weights differ ({len(diff)} tensors, first {diff[0]})")
    ort_re = read_safetensors(os.path.join(d, "ort_re.safetensors"))["logits"]
    re_err = relative_error(ort_re[1], ort[1])
    if re_err > TOLERANCE:
        problems.append(f"ONNX Runtime on nas's re-export vs on the original: relative error {re_err:.2e} > {TOLERANCE}")
    return problems, imp, err, re_err


def main():
    root = sys.argv[1]
    manifest = load_json(os.path.join(root, "manifest.json"))
    failed = 0
    print(f"{'case':24} {'params':>10} {'MACs':>12} {'BN rebuilt':>10} {'nas-ORT':>9} {'re-ORT':>9}")
    for case in manifest["cases"]:
        try:
            problems, imp, err, re_err = check_case(root, case)
        except (OSError, ValueError, KeyError) as e:
            problems, imp, err, re_err = [f"{type(e).__name__}: {e}"], None, float("nan"), float("nan")
        if imp:
            print(f"{case['name']:24} {imp['params']:>10,} {imp['macs']:>12,} {imp['rebuilt_bn']:>10} {err:>9.1e} {re_err:>9.1e}")
        for p in problems:
            print(f"FAIL {case['name']}: {p}")
        failed += bool(problems)
    n = len(manifest["cases"])
    print(f"check-import: {n - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
