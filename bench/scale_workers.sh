#!/usr/bin/env bash
# scale_workers.sh: trials per hour of one search over NATS with 1 worker and
# with 2 workers, each worker one thread (--threads 1, GOMAXPROCS=1), side
# by side on this machine. Both searches are the same run: random strategy,
# same seed, --parallel 4 (four trials out at once, so that a worker that
# finishes out of order finds another task queued while the search waits to
# commit the older one), so they train the same candidates with the same
# seeds and only the worker count differs; the script checks that their
# trials are equal, accuracies bit for bit.
#
#   bash bench/scale_workers.sh
#   BUDGET=32 PROXY_STEPS=100 ROUNDS=2 OUT=runs/scale bash bench/scale_workers.sh
#   MODE=supernet ROUNDS=2 bash bench/scale_workers.sh
#
# MODE=supernet measures a supernet-scored search instead (no --proxy): the
# workers score the candidates on a supernet of the space, trained first
# outside the measured span (nas supernet train, SUPERNET_FRACTION of the
# training split for one epoch: the scoring's cost does not depend on how
# well the supernet is trained), BUDGET 60 by default. Each search's
# workers keep the supernet they fetch in a temporary folder of the
# search's own (TMPDIR), so every search fetches it afresh.
#
# Needs Debian's nats-server (scripts/setup.sh) and the fashion-mnist files
# (dataset-fashion-mnist). The latency table is profiled first, so the
# coordinator measures nothing while the workers train; its start-up
# (dataset hash, table) is outside the measured span, which runs from its
# "search started" log line to its last "trial" line (--log-format json).
# ROUNDS alternates the two set-ups that many times (1, 2, 1, 2, ...) so
# that a change of the machine's load falls on both. It prints one line per
# search and the ratio of the medians, with the load average.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-proxy}
if [ "$MODE" = supernet ]; then BUDGET=${BUDGET:-60}; else BUDGET=${BUDGET:-24}; fi
SUPERNET_FRACTION=${SUPERNET_FRACTION:-0.05}
PARALLEL=${PARALLEL:-4}
PROXY_STEPS=${PROXY_STEPS:-40}
PROXY_EVAL=${PROXY_EVAL:-0.25}
ROUNDS=${ROUNDS:-1}
SEED=${SEED:-3}
SPACE=${SPACE:-small28}
OUT=${OUT:-runs/scale-workers}
PORT=${PORT:-14333}

rm -rf "$OUT"
mkdir -p "$OUT"
nas="$OUT/nas"
go build -o "$nas" ./cmd/nas
"$nas" profile --quiet --lut "$OUT/lut.db" --space "$SPACE" --cap 20ms --warmup 2ms --tolerance 0.2 >/dev/null
accuracy=(--proxy --proxy-steps "$PROXY_STEPS" --proxy-eval-fraction "$PROXY_EVAL")
if [ "$MODE" = supernet ]; then
  "$nas" supernet train --space "$SPACE" --epochs 1 --fraction "$SUPERNET_FRACTION" --out "$OUT/super" --quiet >/dev/null
  accuracy=(--supernet "$OUT/super")
fi

nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$OUT/js" >"$OUT/nats.log" 2>&1 &
server=$!
workers=()
cleanup() {
  for w in "${workers[@]}"; do kill -TERM "$w" 2>/dev/null || true; done
  kill -TERM "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do
  grep -q "Server is ready" "$OUT/nats.log" && break
  sleep 0.2
done
url="nats://127.0.0.1:$PORT"

# search N: one search with N workers; prints "N trials seconds".
search() {
  local n=$1 tag=$2
  workers=()
  for i in $(seq "$n"); do
    mkdir -p "$OUT/$tag-tmp"
    TMPDIR="$OUT/$tag-tmp" GOMAXPROCS=1 "$nas" worker --nats "$url" --project "$tag" --threads 1 --name "w$i" >"$OUT/$tag-w$i.log" 2>&1 &
    workers+=($!)
  done
  "$nas" search --nats "$url" --project "$tag" "${accuracy[@]}" --parallel "$PARALLEL" --strategy random --seed "$SEED" --budget "$BUDGET" \
    --space "$SPACE" --target-ms 1 --final 0 --threads 1 --lut "$OUT/lut.db" --store "$OUT/$tag.db" --out "$OUT/$tag" --json \
    --log-format json >"$OUT/$tag.json" 2>"$OUT/$tag.log"
  for w in "${workers[@]}"; do kill -TERM "$w"; wait "$w" || true; done
  workers=()
  "$nas" report latest --store "$OUT/$tag.db" --out "$OUT/$tag" --json >"$OUT/$tag-report.json"
}

for r in $(seq "$ROUNDS"); do
  for n in 1 2; do
    search "$n" "r$r-w$n"
  done
done

/usr/bin/python3 - "$OUT" "$ROUNDS" "$BUDGET" <<'EOF'
import json, os, statistics, sys
from datetime import datetime
out, rounds, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

def span(log):
    start, last, n = None, None, 0
    for line in open(log):
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if e.get("msg") == "search started":
            start = ts(e["time"])
        elif e.get("msg") == "trial":
            last, n = ts(e["time"]), n + 1
    return n, last - start

rates = {1: [], 2: []}
trials = {}
for r in range(1, rounds + 1):
    for n in (1, 2):
        tag = f"r{r}-w{n}"
        rep = json.load(open(os.path.join(out, tag + "-report.json")))
        rows = rep["trials"]
        k, secs = span(os.path.join(out, tag + ".log"))
        assert len(rows) == budget == k, (tag, len(rows), k)
        rate = k / secs * 3600
        rates[n].append(rate)
        trials[tag] = [(t["arch"], t["val_accuracy"], t["reward"]) for t in rows]
        print(f"{tag}: {k} trials in {secs:.1f} s: {rate:.0f} trials/hour")
first = trials["r1-w1"]
for tag, t in trials.items():
    assert t == first, f"{tag}: trials differ from r1-w1"
print(f"the {len(trials)} searches' trials are equal (arch, val_acc, reward)")
m1, m2 = statistics.median(rates[1]), statistics.median(rates[2])
print(f"median trials/hour: 1 worker {m1:.0f}, 2 workers {m2:.0f}: {m2 / m1:.2f}x")
EOF
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
