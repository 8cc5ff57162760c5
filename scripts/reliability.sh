#!/usr/bin/env bash
# Writes docs/reliability.md from what the tests and fuzzers do now: every
# class of malformed input with the number of cases its test tries and
# whether each ends in a clear error without a panic, the locking tests,
# the fuzz targets with their budgets (read from scripts/test.sh) and the
# kill tests (every test named Test*Kill*).
#
#   bash scripts/reliability.sh             # runs everything (a few minutes)
#   bash scripts/reliability.sh --no-fuzz   # leaves the fuzz runs out
#   bash scripts/reliability.sh --no-kill   # leaves the kill tests out
#
# A class, fuzz target or kill test that fails shows as FAILING in the
# table, and the script exits 1 after writing it.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz=1 kill=1
for a in "$@"; do
  case "$a" in
    --no-fuzz) fuzz=0 ;;
    --no-kill) kill=0 ;;
    *) echo "usage: $0 [--no-fuzz] [--no-kill]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Malformed-input classes: package|test|what the input is. Each test is
# table-driven: one subtest per case, each asserting an error that names
# the file, field or token and what is wrong.
CLASSES=(
  "./internal/safetensors/|TestCorrupt|safetensors files (checkpoints, golden data): length, header JSON, duplicate names, element counts that overflow or wrap to 0, sizes, overlapping, gapped and out-of-range offsets, dtypes, metadata"
  "./internal/safetensors/|TestEncodeRefusesShapeMismatch|safetensors tensors to write whose shape does not hold their values"
  "./space/|TestParseArchErrors|arch strings: syntax, unknown types and keys, values, repeats, header"
  "./space/|TestArchLimits|arch strings beyond space.DefaultLimits: channels, kernel, pad, stride, groups, expansion, depth, input, classes, activations, params, MACs"
  "./space/|TestParseArchJSONErrors|arch JSON: syntax, version, fields, types, ranges"
  "./space/|TestArchLimitsJSON|arch JSON beyond space.DefaultLimits"
  "./space/|TestParseSpaceJSONErrors|space JSON: families, option lists, duplicates, fields, types"
  "./space/|TestSpaceLimits|space JSON beyond space.DefaultLimits"
  "./trainer/|TestIDXErrors|IDX files (MNIST, Fashion-MNIST): magic, header, truncation, gzip damage, header claims, labels"
  "./trainer/|TestCIFARErrors|CIFAR-10 batches: missing, empty, truncated, labels"
  "./trainer/|TestImageFolderErrors|image folders: layout, unreadable and truncated images, headers claiming huge images"
  "./latency/|TestCorruptFiles|latency table files: flipped, random and text bytes, truncation, random damage"
  "./latency/|TestDecodeEntryErrors|latency table entries: size, checksum, format, JSON, values"
  "./results/|TestCorruptFiles|results store files: flipped bytes, truncation, random damage"
  "./results/|TestDecodeTrialErrors|results store trial records: size, checksum, key, format, JSON, values"
  "./results/|TestTrialValidation|trials given to the store to write"
  "./onnximport/|TestRefusals|ONNX models: operators and forms nas does not lower, custom domains, missing initializers, dangling inputs, cycles, shapes"
  "./onnximport/|TestLimits|ONNX models beyond the importer's limits: file size, nodes, values"
  "./supernet/|TestRefusals|supernet folders of another space, dataset, layout or settings"
  "./cluster/|TestDecodeTaskRefuses|task messages on the NATS queue: garbage, trailing data, unknown fields, versions, names, sizes"
  "./cluster/|TestMalformedResult|results in the NATS key-value bucket that do not decode or name another run"
  "./cmd/nas/|TestInferBadInputs|nas infer inputs: empty, wrong size, NaN and Inf values, over 256 MiB (by size, before reading), colour PNG and JPEG for one channel, --norm of other channels or on raw values"
)
# Locking: package|test|situation.
LOCKS=(
  "./latency/|TestLocked|a latency table that another process holds"
  "./results/|TestLocked|a results store that another process holds"
)

# run PKG TEST [short] writes the go test -json events of one test to
# $work/PKG-TEST.json and prints the file's name.
run() {
  local f="$work/$(echo "$1-$2" | tr '/.' '__').json"
  local short=()
  [ "${3:-}" = short ] && short=(-short)
  go test -count=1 "${short[@]}" -json -run "^$2\$" "$1" >"$f" 2>&1 || true
  echo "$f"
}

# summarise FILE TEST prints "cases passed failed skipped": subtests one
# level down (the test itself when it has none).
summarise() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
path, test = sys.argv[1], sys.argv[2]
res = {}
top = None
for line in open(path):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    name = ev.get("Test", "")
    act = ev.get("Action")
    if act not in ("pass", "fail", "skip"):
        continue
    if name == test:
        top = act
    elif name.startswith(test + "/") and name.count("/") == 1:
        res[name] = act
if not res and top:
    res[test] = top
if top == "fail" and not any(v == "fail" for v in res.values()):
    res[test + " (itself)"] = "fail"
vals = list(res.values())
print(len(vals), vals.count("pass"), vals.count("fail"), vals.count("skip"))
EOF
}

# points FILE TEST prints "POINT ACTION" for each subtest one level down
# (a kill point), or "- ACTION" for a test without subtests; a test that
# ran none prints "- fail".
points() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
path, test = sys.argv[1], sys.argv[2]
res, top = {}, None
for line in open(path):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    name, act = ev.get("Test", ""), ev.get("Action")
    if act not in ("pass", "fail", "skip"):
        continue
    if name == test:
        top = act
    elif name.startswith(test + "/") and name.count("/") == 1:
        res[name[len(test) + 1:]] = act
if not res:
    res["-"] = top or "fail"
elif top == "fail" and "fail" not in res.values():
    res["(the test itself)"] = "fail"
for k, v in res.items():
    print(k, v)
EOF
}

# doc TEST prints the first sentence of the doc comment of func TEST.
doc() {
  local file
  file=$(grep -rl --include='*_test.go' "^func $1(t \*testing.T)" "$2" | head -1)
  awk -v fn="func $1(" '
    /^\/\// { c = c " " substr($0, 3); next }
    index($0, fn) == 1 { print c; exit }
    { c = "" }' "$file" | sed -E 's/^ +//; s/ +/ /g; s/\. .*/./'
}

outcome() { # cases passed failed skipped
  if [ "$3" != 0 ] || [ "$1" = 0 ]; then echo "FAILING ($3 of $1 cases)"
  elif [ "$4" != 0 ]; then echo "clear error, no panic ($4 skipped)"
  else echo "clear error, no panic"; fi
}

doc_out="$work/reliability.md"
{
  echo "# Reliability"
  echo
  echo "Generated by \`bash scripts/reliability.sh\` from the tests and fuzzers as they"
  echo "are; do not edit by hand. The parsers and loaders below bound what they"
  echo "accept, before allocating, and refuse the rest with an error that names the"
  echo "file, field or token, the value and, for a size, the limit (space.Limits"
  echo "for networks, see docs/arch-format.md, Limits)."
  echo
  echo "## Malformed input"
  echo
  echo "Each class is a table-driven test: every case must end in an error that"
  echo "names what is wrong, with no panic."
  echo
  echo "| Input | Test | Cases | Outcome |"
  echo "|---|---|---|---|"
  total=0
  for c in "${CLASSES[@]}"; do
    IFS='|' read -r pkg test what <<<"$c"
    read -r n p f s < <(summarise "$(run "$pkg" "$test")" "$test")
    total=$((total + n))
    echo "| $what | \`${pkg#./}\` $test | $n | $(outcome "$n" "$p" "$f" "$s") |"
  done
  echo
  echo "$total cases in all."
  echo
  echo "## Locking"
  echo
  echo "A latency table or results store that one process has open is locked:"
  echo "exclusively while it writes, shared while it only reads. Another \`nas\`"
  echo "that needs the lock waits up to 2 seconds, then stops with an error that"
  echo "names the file, says another nas process has it open, and says to wait"
  echo "until that process ends or to give another file. The tests start a second"
  echo "process that holds the file (a writer, then a reader) and open it again."
  echo
  echo "| Situation | Test | Outcome |"
  echo "|---|---|---|"
  for c in "${LOCKS[@]}"; do
    IFS='|' read -r pkg test what <<<"$c"
    read -r n p f s < <(summarise "$(run "$pkg" "$test")" "$test")
    echo "| $what | \`${pkg#./}\` $test | $(outcome "$n" "$p" "$f" "$s" | sed 's/clear error, no panic/clear error naming the file/') |"
  done
  echo
  echo "## Fuzz targets"
  echo
  echo "Every parser and decoder is fuzzed: it must never panic, and what it"
  echo "accepts must round-trip. CI runs each for its budget in executions"
  echo "(\`scripts/test.sh\`); the committed corpus files (crashers found, and"
  echo "seeds) run with every \`go test\`."
  echo
  echo "| Target | Package | Budget (executions) | Committed corpus files | Outcome |"
  echo "|---|---|---|---|---|"
  while read -r pkg target execs; do
    corpus=0
    if [ -d "${pkg%/}/testdata/fuzz/$target" ]; then
      corpus=$(find "${pkg%/}/testdata/fuzz/$target" -type f | wc -l)
    fi
    if [ "$fuzz" = 1 ]; then
      if go test -run='^$' -fuzz="^${target}\$" -fuzztime="${execs}x" "$pkg" >"$work/fuzz.log" 2>&1; then
        result="no panic, round trips hold"
      else
        result="FAILING"
      fi
    else
      result="not run (--no-fuzz)"
    fi
    echo "| $target | \`${pkg#./}\` | $execs | $corpus | $result |"
  done < <(sed -n '/^FUZZ_TARGETS=(/,/^)/p' scripts/test.sh | sed -n 's/^ *"\(.*\)"$/\1/p')
  echo
  echo "## Kill points"
  echo
  echo "Every test named \`Test*Kill*\`: a process stopped with SIGKILL (or SIGINT, as"
  echo "Ctrl-C sends) and what the test then checks. The search and NetAdapt tests"
  echo "stop the run at a known event (\`pipeline.KillAtEnv\`: a proxy trial, the final"
  echo "training, a baseline, a proposal's fine-tune, the long fine-tune), not after a"
  echo "sleep; each fails unless the stop landed mid-run and the resume continued the"
  echo "stored run. One row per kill point (subtest). \`-short\` skips the ones that"
  echo "train networks."
  echo
  echo "| Test | Package | Kill point | What it checks | Outcome |"
  echo "|---|---|---|---|---|"
  while read -r file test; do
    dir="./$(dirname "$file")/"
    what=$(doc "$test" "$dir")
    if [ "$kill" = 1 ]; then
      events=$(run "$dir" "$test")
      while read -r point act; do
        case "$act" in
          pass) result="passes, nothing lost" ;;
          skip) result="skipped" ;;
          *) result="FAILING" ;;
        esac
        echo "| $test | \`${dir#./}\` | $point | $what | $result |"
        what="(as above)"
      done < <(points "$events" "$test")
    else
      echo "| $test | \`${dir#./}\` | - | $what | not run (--no-kill) |"
    fi
  done < <(grep -rHoE --include='*_test.go' '^func Test[A-Za-z0-9]*Kill[A-Za-z0-9]*\(t \*testing\.T\)' . |
    sed -E 's|^\./||; s|:func (Test[A-Za-z0-9]*)\(.*|\t\1|' | sort -t"$(printf '\t')" -k2 | tr '\t' ' ')
} >"$doc_out"
cp "$doc_out" docs/reliability.md
echo "wrote docs/reliability.md" >&2
if grep -q FAILING docs/reliability.md; then
  echo "some classes, targets or kill tests fail: see FAILING in docs/reliability.md" >&2
  exit 1
fi
