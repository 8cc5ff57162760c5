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
# time runs out (golang/go#75804, fixed in Go 1.27).
# 300,000 executions take about 10 s each at ~30,000 executions/s.
go test -run='^$' -fuzz='^FuzzParseArch$' -fuzztime=300000x ./space/
go test -run='^$' -fuzz='^FuzzParseArchJSON$' -fuzztime=300000x ./space/
# The ONNX importer's decoder and lowering on mutated models (about 10 s).
go test -run='^$' -fuzz='^FuzzImport$' -fuzztime=100000x ./onnximport/
# The exporters, checked by their consumers (onnx.checker, ONNX Runtime, PyTorch).
bash scripts/check-export.sh
# The ONNX import round trip: torchvision's networks exported by PyTorch,
# imported, run and re-exported (about a minute on two cores).
bash scripts/check-import.sh
