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
# The arch parsers must never panic and must round-trip what they accept.
# Budgets in executions, not seconds: with a duration, Go 1.26's fuzzing
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out (golang/go#75804, fixed in Go 1.27); CI hit it once.
# About 10 s each on the development machine (~30,000 executions/s).
go test -run='^$' -fuzz='^FuzzParseArch$' -fuzztime=300000x ./space/
go test -run='^$' -fuzz='^FuzzParseArchJSON$' -fuzztime=300000x ./space/
# The exporters, checked by their consumers (onnx.checker, ONNX Runtime, PyTorch).
bash scripts/check-export.sh

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
# arm64 (NEON) under qemu-user: every package but cmd/nas, whose version
# test lists the amd64 paths only, and latency, whose probe tests time
# waits that emulation stretches.
GOARCH=arm64 go vet ./blocks/kernels/
# shellcheck disable=SC2046
GOARCH=arm64 go test -count=1 -short -exec qemu-aarch64-static \
  $(go list ./... | grep -v -e '/cmd/nas$' -e '/latency$')
# --- end of kernel paths ---------------------------------------------------
