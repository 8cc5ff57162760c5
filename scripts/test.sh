#!/usr/bin/env bash
# The test command of the README: set-up, then the whole suite, then the
# concurrent packages again under the race detector in -short mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
go vet ./...
go test -count=1 ./...
go test -count=1 -race -short ./...
bash scripts/check-export.sh
