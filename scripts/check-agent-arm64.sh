#!/usr/bin/env bash
# A real other device for `nas agent`: the static arm64 binary, run under
# qemu-aarch64-static, serves a profile from the amd64 binary over a
# loopback nats-server. The table must land under the arm64 fingerprint
# (linux/arm64, neon kernels), and this machine must refuse it as its own.
# Timings under emulation mean nothing; the fingerprint and the protocol
# do.
#
#   bash scripts/check-agent-arm64.sh [WORKDIR]
#
# Needs nats-server and qemu-aarch64-static (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
go build -o "$work/nas" ./cmd/nas
CGO_ENABLED=0 GOARCH=arm64 go build -o "$work/nas-arm64" ./cmd/nas
port=$((20000 + RANDOM % 20000))
url=nats://127.0.0.1:$port
nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/store" >"$work/server.log" 2>&1 &
server=$!
agent=
trap 'kill $agent $server 2>/dev/null || true' EXIT
sleep 1
qemu-aarch64-static "$work/nas-arm64" agent --nats "$url" --device arm64-board --threads 1 >"$work/agent.log" 2>&1 &
agent=$!
cat >"$work/tiny.json" <<'JSON'
{
  "version": 1, "name": "tiny", "input": [1, 8, 8], "classes": 3,
  "stem": [{"type": "conv", "out": 4, "kernel": 3, "act": "relu"}],
  "stages": [
    {"stride": 2, "blocks": ["conv"], "kernels": [1, 3], "acts": ["relu"], "widths": [8], "depths": [1, 2]},
    {"stride": 1, "blocks": ["conv"], "kernels": [3], "acts": ["relu"], "widths": [8, 16], "depths": [1]}
  ],
  "head": [{"type": "gap"}, {"type": "linear"}]
}
JSON
for _ in $(seq 60); do # the agent under emulation takes a few seconds to start
  if "$work/nas" profile --lut "$work/arm.db" --space "$work/tiny.json" --calibrate 1 --rounds 1 --cap 20ms --warmup 1ms \
    --quiet --json --nats "$url" --device arm64-board >"$work/profile.json" 2>"$work/profile.err"; then
    break
  fi
  sleep 1
done
cat "$work/profile.json"
"$work/nas" lut show "$work/arm.db" --json >"$work/lut.json"
python3 - "$work/lut.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["devices"]
assert len(d) == 1, d
fp = d[0]["fingerprint"]
assert fp["goarch"] == "arm64" and fp["kernel_path"] != "avx2", fp
assert len(d[0]["entries"]) > 0
print("table device", d[0]["id"], fp["goos"] + "/" + fp["goarch"], fp["kernel_path"], len(d[0]["entries"]), "entries")
PY
if "$work/nas" latency "in1x8x8 cls3 | conv_o4_k3_arelu | conv_o8_k3_s2_arelu | conv_o8_k3_arelu | gap | linear_o3" --lut "$work/arm.db" 2>"$work/refused.err"; then
  echo "the arm64 table was taken as this machine's" >&2
  exit 1
fi
grep -q "was profiled on another device" "$work/refused.err"
cat "$work/refused.err"
echo "ok: arm64 agent"
