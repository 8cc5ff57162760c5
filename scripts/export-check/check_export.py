"""Checks nas's exported networks with their consumers.

For every case of a checkcases manifest (see export/internal/checkcases):
  * each ONNX file passes onnx.checker (full check, with shape inference);
  * the generated PyTorch module (model.py) loads weights.safetensors with a
    strict load_state_dict, so its state_dict keys are exactly nas's names,
    and has the parameter count nas computes for the graph;
  * in eval mode, on input.safetensors, the outputs of ONNX Runtime
    (ort_*.safetensors from run_onnx.mjs) and of nas (nas.safetensors)
    equal the reference, the PyTorch module run in float64, within a
    relative error max|a - ref| / max|ref| of 1e-4, or of 3x PyTorch's own
    float32 error where the network amplifies round-off beyond that (the
    reason is printed with each case);
  * the outputs of the batch's two samples differ (else the check would be
    blind: logits made by the biases alone).

Run with Debian's python (python3-onnx, python3-torch):

    /usr/bin/python3 scripts/export-check/check_export.py DIR

Prints one line per case and "N passed, N failed"; exits 1 on any failure.
"""
import importlib.util
import json
import os
import sys

import onnx
import onnx.checker
import torch

TOLERANCE = 1e-4


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def relative_error(a, b):
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / max(scale, 1e-30)


def check_case(root, case):
    d = os.path.join(root, case["dir"])
    problems = []
    for model in case["onnx"]:
        try:
            onnx.checker.check_model(onnx.load(os.path.join(d, model)), full_check=True)
        except Exception as e:  # the checker raises several kinds
            problems.append(f"onnx.checker {model}: {e}")
    mod = load_module(os.path.join(d, "model.py"), "nas_export_" + case["dir"])
    net = mod.load(os.path.join(d, "weights.safetensors"))
    params = sum(p.numel() for p in net.parameters())
    want = case["params"] if case.get("params") is not None else mod.PARAMETERS
    if params != want:
        problems.append(f"PyTorch has {params} parameters, nas counts {want}")
    x = mod.load_safetensors(os.path.join(d, "input.safetensors"))["input"]
    with torch.no_grad():
        y = net(x)
        # The reference: the same module and weights in float64.
        exact = mod.load(os.path.join(d, "weights.safetensors")).double()(x.double())
    # A check is only as good as its logits' dependence on the input: with
    # two different samples, the outputs must differ.
    if y.shape[0] >= 2:
        spread = relative_error(exact[0], exact[1])
        if spread < 1e-3:
            problems.append(f"the outputs of two different inputs differ by only {spread:.1e} (relative): "
                            "the weights make the check blind")
    # Float32 round-off, amplified by the network: PyTorch's own float32
    # error. A deep random network can push it past 1e-4; then every float32
    # result may be off by as much, and the tolerance grows with it.
    own = relative_error(y.double(), exact)
    tolerance = max(TOLERANCE, 3 * own)
    worst = {"torch float32": own}
    refs = {"ort_" + m.replace(".onnx", ".safetensors"): "onnxruntime " + m for m in case["onnx"]}
    refs["nas.safetensors"] = "nas"
    for file, what in refs.items():
        path = os.path.join(d, file)
        if not os.path.exists(path):
            if what != "nas" or case.get("params") is not None:
                problems.append(f"no {file} (did run_onnx.mjs run?)")
            continue
        ref = mod.load_safetensors(path)["logits"]
        if tuple(ref.shape) != tuple(y.shape):
            problems.append(f"{what} output shape {tuple(ref.shape)}, PyTorch {tuple(y.shape)}")
            continue
        err = relative_error(ref.double(), exact)
        worst[what] = err
        if not err <= tolerance:
            problems.append(f"{what} vs the float64 reference: relative error {err:.2e} > {tolerance:.1e}")
    if tolerance > TOLERANCE:
        worst[f"(tolerance {tolerance:.1e}: round-off amplified)"] = own
    return params, worst, problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    root = sys.argv[1]
    with open(os.path.join(root, "manifest.json")) as f:
        manifest = json.load(f)
    torch.set_num_threads(1)
    passed = failed = skipped = 0
    print(f"onnx {onnx.__version__}, torch {torch.__version__}")
    for case in manifest["cases"]:
        if case.get("skipped"):
            skipped += 1
            print(f"SKIP {case['name']}: {case['skipped']}")
            continue
        try:
            params, worst, problems = check_case(root, case)
        except Exception as e:
            params, worst, problems = 0, {}, [f"{type(e).__name__}: {e}"]
        errs = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
        if problems:
            failed += 1
            print(f"FAIL {case['name']}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {case['name']}: {params} parameters; relative error to float64: {errs}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
