#!/usr/bin/env bash
# The test command of the README: set-up, then the whole suite, then the
# concurrent packages again under the race detector in -short mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
go vet ./...
# The profiler runs on arm64 boards: one static binary must cross-build.
GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -o /dev/null ./cmd/nas
go test -count=1 ./...
go test -count=1 -race -short ./...
# Every parser and decoder must never panic and must round-trip what it
# accepts: each fuzz target below runs for its budget. Budgets in
# executions, not seconds: with a duration, Go 1.26's fuzzing coordinator
# can report "context deadline exceeded" as a failure when the time runs out
# (golang/go#75804, fixed in Go 1.27). The budgets are sized
# for a few minutes in all on 2 cores; FuzzParseArch and
# FuzzParseArchJSON run slower than the rest because they build and run
# the small networks they accept. scripts/reliability.sh reads this list
# for docs/reliability.md: keep one target per line, "package target
# executions".
FUZZ_TARGETS=(
  "./space/ FuzzParseArch 200000"
  "./space/ FuzzParseArchJSON 200000"
  "./space/ FuzzParseSpaceJSON 100000"
  "./internal/safetensors/ FuzzDecode 200000"
  "./trainer/ FuzzReadIDX 100000"
  "./trainer/ FuzzCIFARBatch 100000"
  "./trainer/ FuzzDecodeImage 100000"
  "./latency/ FuzzDecodeEntry 100000"
  "./results/ FuzzDecodeTrial 100000"
  "./results/ FuzzDecodeRun 50000"
  "./onnximport/ FuzzImport 100000"
  "./cluster/ FuzzDecodeTask 50000"
  "./cluster/ FuzzDecodeResult 50000"
  "./trainer/ FuzzReadInput 50000"
  "./space/ FuzzMatch 50000"
  "./supernet/ FuzzReadManifest 20000"
  "./pipeline/ FuzzReadHistory 50000"
  "./cluster/ FuzzDecodeMeasureRequest 50000"
  "./cluster/ FuzzDecodeMeasureReply 50000"
  "./cluster/ FuzzDecodeScorePayload 50000"
  "./latency/ FuzzParseKey 50000"
  "./bench/planrun/ FuzzReadORTProfile 20000"
)
for t in "${FUZZ_TARGETS[@]}"; do
  read -r pkg target execs <<<"$t"
  go test -run='^$' -fuzz="^${target}\$" -fuzztime="${execs}x" "$pkg"
done
# The exporters, checked by their consumers (onnx.checker, ONNX Runtime, PyTorch).
bash scripts/check-export.sh
# The ONNX import round trip: torchvision's networks exported by PyTorch,
# imported, run and re-exported.
bash scripts/check-import.sh

# --- Kernel paths ---------------------------------------------------------
# The suite runs on every kernel path, not only the one this machine has.
# The committed generated assembly is what its generators produce.
bash scripts/check-generated.sh
# AVX2, where the machine has AVX-512 (golang.org/x/sys/cpu honours GODEBUG).
if grep -qw avx512f /proc/cpuinfo; then
  GODEBUG=cpu.avx512f=off go test -count=1 -short ./...
fi
# The pure-Go path: the kernels' oracle, and the fallback on other CPUs.
go test -count=1 -short -tags noasm ./...
# arm64 (NEON) under qemu-user: every package but latency, whose probe
# tests time waits that emulation stretches.
GOARCH=arm64 go vet ./blocks/kernels/
# shellcheck disable=SC2046
GOARCH=arm64 go test -count=1 -short -exec qemu-aarch64-static \
  $(go list ./... | grep -v -e '/latency$')
# nas agent as a real other device: the arm64 binary under qemu serves a
# profile; the table lands under its arm64 fingerprint.
bash scripts/check-agent-arm64.sh
# --- end of kernel paths ---------------------------------------------------
