#!/usr/bin/env python3
"""Score models of blocks inside networks on bench/blockctx's CSV.

    while read -r net; do
        go run ./bench/blockctx -runs 100 -flush -csv ctx.csv "$net"
    done < nets.txt
    python3 bench/block_models.py ctx.csv

Each network in ctx.csv has its blocks timed alone (warm), alone with
their weights flushed before every run (cold), and inside the network,
and the network end to end (E). Over 300 random splits into 8
calibration networks (the profiler's default) and the rest, each model is
fitted on the 8 and scored on the rest; the script prints the mean
fraction of networks predicted within ±5% of E, the mean and p90
absolute error and the mean signed error:

- scale:  s * sum(warm), s the median of E / sum(warm);
- cold:   s * sum(cold);
- weights: s * sum(warm + a * weight bytes), a fitted on the blocks;
- beta:   s * sum(warm + beta * (cold - warm)), beta fitted by least
  squares, with an intercept, on every block of the 8 networks (inside
  minus warm on cold minus warm), clamped to [0, 4] (what nas profile
  does).

Standard library only.
"""
import csv
import random
import statistics
import sys


def load(path):
    nets = {}
    for r in csv.reader(open(path)):
        ref, idx, _name, _shape, alone, inside, cold, w = r[:8]
        d = nets.setdefault(ref, {"blocks": []})
        if idx == "-1":
            d["E"] = float(inside)
        else:
            d["blocks"].append((float(alone), float(inside), float(cold), int(w)))
    return {k: v for k, v in nets.items() if "E" in v}


def slope(xs, ys, intercept):
    n = len(xs)
    if n < 3:
        return 0.0
    mx = sum(xs) / n if intercept else 0.0
    my = sum(ys) / n if intercept else 0.0
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return sxy / sxx if sxx > 0 else 0.0


def per_block(nets, cal, feature):
    xs, ys = [], []
    for r in cal:
        for warm, inside, cold, w in nets[r]["blocks"]:
            xs.append(feature(warm, cold, w))
            ys.append(inside - warm)
    return xs, ys


def model(name, nets, cal):
    if name == "scale":
        f = lambda b: b[0]
    elif name == "cold":
        f = lambda b: b[2]
    elif name == "weights":
        a = slope(*per_block(nets, cal, lambda warm, cold, w: w), True)
        f = lambda b: b[0] + a * b[3]
    elif name == "beta":
        beta = min(max(slope(*per_block(nets, cal, lambda warm, cold, w: cold - warm), True), 0.0), 4.0)
        f = lambda b: max(0.0, b[0] + beta * (b[2] - b[0]))
    total = lambda r: sum(f(b) for b in nets[r]["blocks"])
    s = statistics.median(nets[r]["E"] / total(r) for r in cal)
    return lambda r: s * total(r)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    nets = load(sys.argv[1])
    refs = sorted(nets)
    print(f"{len(refs)} networks")
    for name in ("scale", "cold", "weights", "beta"):
        rng = random.Random(1)
        within, errs = [], []
        for _ in range(300):
            cal = rng.sample(refs, 8)
            predict = model(name, nets, cal)
            e = [100 * (predict(r) - nets[r]["E"]) / nets[r]["E"] for r in refs if r not in cal]
            within.append(sum(abs(x) <= 5 for x in e) / len(e))
            errs += e
        a = sorted(abs(x) for x in errs)
        print(f"{name:8s} within ±5% {100 * statistics.mean(within):5.1f}%  mean abs {statistics.mean(a):4.2f}%  "
              f"p90 abs {a[int(0.9 * len(a))]:4.2f}%  mean {statistics.mean(errs):+.2f}%")


main()
