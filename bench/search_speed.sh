#!/usr/bin/env bash
# Times a supernet search of BUDGET candidates (default 1,000) on an
# existing supernet, with no final training: the search phase of `nas
# search` alone. The latency table is a copy of LUT (default: none, so
# the search fills a fresh one), so the table given is never changed.
#
#   SUPERNET=runs/supernets/small28-fashion-mnist-HASH [LUT=nas-lut.db] \
#     [BUDGET=1000] [TARGET=0.5] [SEED=1] [OUT=runs/search-speed] bash bench/search_speed.sh
#
# It prints the search's summary line and /usr/bin/time's wall and CPU
# times, and leaves the run's store, table, report and log (one line per
# trial, search.log) in OUT.
set -euo pipefail
: "${SUPERNET:?SUPERNET=DIR: the folder of a trained supernet (nas supernet train --out DIR, or runs/supernets/...)}"
BUDGET=${BUDGET:-1000}
TARGET=${TARGET:-0.5}
SEED=${SEED:-1}
OUT=${OUT:-runs/search-speed}
NAS=${NAS:-}
rm -rf "$OUT"
mkdir -p "$OUT"
if [[ -n "${LUT:-}" ]]; then
	cp "$LUT" "$OUT/nas-lut.db"
fi
if [[ -z "$NAS" ]]; then
	NAS="$OUT/nas"
	go build -o "$NAS" ./cmd/nas
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -o "$OUT/time.txt" -f "wall %e s, CPU %U user + %S system s, max resident %M KB" \
	"$NAS" search --target-ms "$TARGET" --supernet "$SUPERNET" --budget "$BUDGET" --final 0 --seed "$SEED" \
	--store "$OUT/nas-results.db" --lut "$OUT/nas-lut.db" -o "$OUT/report" >"$OUT/search.txt" 2>"$OUT/search.log"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E '^(trials|best)' "$OUT/search.txt"
tail -1 "$OUT/time.txt"
"$NAS" lut show "$OUT/nas-lut.db" | grep entries
