#!/usr/bin/env python3
"""Score models of the network-level overhead on a validation run.

    python3 bench/overhead_models.py VALIDATE.json LUT [NAS]

VALIDATE.json is `nas latency validate ... --json` against the table LUT.
For each validated network, `nas latency NET --lut LUT --json` gives the
sum of its blocks (predicted_ms - overhead_ms). The script then reports,
on the same measurements:

- within ±5% with the table's own calibration, as a scale and as the
  median difference the overhead entry also holds;
- out of sample: 200 random splits of the networks into 8 (the
  calibration's default count) and the rest, each model fitted on the 8
  and scored on the rest: median difference, median ratio (the scale),
  and a Theil-Sen line;
- and, over 300 splits into 12 and the rest, the scale against a scale
  per block family (Ghost blocks, blocks with hard-swish, the rest;
  least squares on relative errors).

NAS defaults to `go run ./cmd/nas`. Standard library only.
"""
import json
import random
import statistics
import subprocess
import sys


def within5(preds, measured):
    return sum(abs(p - m) / m <= 0.05 for p, m in zip(preds, measured)) / len(measured)


def theil_sen(sums, measured):
    slopes = [(m2 - m1) / (s2 - s1)
              for i, (s1, m1) in enumerate(zip(sums, measured))
              for s2, m2 in list(zip(sums, measured))[i + 1:] if abs(s2 - s1) > 1e-9]
    k = min(max(statistics.median(slopes), 0.8), 1.6)
    return k, statistics.median(m - k * s for s, m in zip(sums, measured))


def family(block):
    if block.startswith("ghost"):
        return 0
    if "hswish" in block:
        return 1
    return 2


def solve(a, b):
    """Solves the small linear system a x = b (Gaussian elimination)."""
    n = len(b)
    m = [row[:] + [v] for row, v in zip(a, b)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        if abs(m[c][c]) < 1e-12:
            return None
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


def family_fit(feats, measured):
    """Per-family scales minimising the squared relative error."""
    k = len(feats[0])
    a = [[sum(f[i] * f[j] / m ** 2 for f, m in zip(feats, measured)) for j in range(k)] for i in range(k)]
    b = [sum(f[i] / m for f, m in zip(feats, measured)) for i in range(k)]
    return solve(a, b)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    val, lut = sys.argv[1], sys.argv[2]
    nas = sys.argv[3].split() if len(sys.argv) > 3 else ["go", "run", "./cmd/nas"]
    samples = json.load(open(val))["samples"]
    sums, measured, feats = [], [], []
    scale = median_diff = None
    for s in samples:
        r = json.loads(subprocess.check_output(nas + ["latency", s["network"], "--lut", lut, "--json"]))
        sums.append(r["predicted_ms"] - r["overhead_ms"])
        measured.append(s["measured_ms"])
        f = [0.0, 0.0, 0.0]
        for b in r["blocks"]:
            f[family(b["block"])] += b["ms"]
        feats.append(f)
    table = subprocess.check_output(nas + ["lut", "show", lut, "--csv"], text=True).splitlines()
    header = table[0].split(",")
    for line in table[1:]:
        row = dict(zip(header, line.split(",")))
        if row["key"].startswith("overhead|") and "scale" in row:
            scale, median_diff = float(row["scale"]), float(row["median_ns"]) / 1e6
    print(f"{len(measured)} networks, measured {min(measured):.3f} to {max(measured):.3f} ms")
    if scale:
        print(f"table's calibration: scale {scale:.3f} -> {within5([s * scale for s in sums], measured):.1%} within ±5%; "
              f"median difference {median_diff:.3f} ms -> {within5([s + median_diff for s in sums], measured):.1%}")
    rng = random.Random(1)
    scores = {"median difference": [], "median ratio (scale)": [], "Theil-Sen line": []}
    idx = list(range(len(measured)))
    for _ in range(200):
        rng.shuffle(idx)
        cal, test = idx[:8], idx[8:]
        cs, cm = [sums[i] for i in cal], [measured[i] for i in cal]
        ts, tm = [sums[i] for i in test], [measured[i] for i in test]
        d = statistics.median(m - s for s, m in zip(cs, cm))
        k = statistics.median(m / s for s, m in zip(cs, cm))
        a, b = theil_sen(cs, cm)
        scores["median difference"].append(within5([s + d for s in ts], tm))
        scores["median ratio (scale)"].append(within5([s * k for s in ts], tm))
        scores["Theil-Sen line"].append(within5([a * s + b for s in ts], tm))
    print("out of sample (fitted on 8, 200 splits), mean fraction within ±5%:")
    for name, v in scores.items():
        print(f"  {name:22s} {statistics.mean(v):.1%}")
    rng = random.Random(2)
    fam = {"median ratio (scale)": [], "scale per family": []}
    for _ in range(300):
        rng.shuffle(idx)
        cal, test = idx[:12], idx[12:]
        k = statistics.median(measured[i] / sums[i] for i in cal)
        fam["median ratio (scale)"].append(within5([sums[i] * k for i in test], [measured[i] for i in test]))
        # A family absent from the 12 takes the scale.
        present = [j for j in range(3) if any(feats[i][j] > 0 for i in cal)]
        x = family_fit([[feats[i][j] for j in present] for i in cal], [measured[i] for i in cal])
        if x is None:
            continue
        coef = [k] * 3
        for j, v in zip(present, x):
            coef[j] = v
        fam["scale per family"].append(within5([sum(c * f for c, f in zip(coef, feats[i])) for i in test],
                                               [measured[i] for i in test]))
    print("out of sample (fitted on 12, 300 splits), mean fraction within ±5%:")
    for name, v in fam.items():
        print(f"  {name:22s} {statistics.mean(v):.1%}")


if __name__ == "__main__":
    main()
