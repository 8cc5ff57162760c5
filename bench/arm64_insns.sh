#!/usr/bin/env bash
# Counts the arm64 instructions one batch-1 inference executes, and one
# training step, NEON kernels against the pure-Go path (-tags noasm), under
# qemu-user on any Linux host: speed cannot be timed under emulation, an
# instruction count can.
#
#	bash bench/arm64_insns.sh                      # mobilenet_v2 and mobilenet_v3_small, 224x224, then a training step
#	NETS=mnasnet1_0 SIZE=160 TRAIN=0 bash bench/arm64_insns.sh
#	NETS= BATCH=16 TRAIN_ARCH="in1x28x28 ..." bash bench/arm64_insns.sh   # the training step only
#	PROFILE=/tmp/prof bash bench/arm64_insns.sh    # also instructions by function
#
# Each network runs through bench/planrun (built for arm64 twice: default
# and noasm) under qemu-aarch64 with the plugin bench/arm64insn/insncount.c,
# which counts every guest instruction executed. planrun does its setup and
# ten warm-up inferences before the timed ones, so the script runs it with
# -iters 1 and with -iters 3 and reports half the difference: the
# instructions of one inference, setup excluded. The collector is off
# (GOGC=off, passed to the guest) so that no collection falls into one run
# and not the other; the runtime's other threads still make two counts of
# one run differ by about 0.1% (a million instructions for
# mobilenet_v3_small), so a figure holds to a few percent.
#
# The training step is bench/trainbench's (forward, backward and SGD with
# momentum, batch norm on batch statistics) on TRAIN_ARCH, a network of the
# small28 space with ReLU and hard swish, squeeze-and-excitation and 3x3
# depthwise convolutions at stride 1 and 2, at BATCH images (8) and one
# thread: trainbench runs three warm-up steps before the timed ones, so the
# script runs it with -steps 1 and -steps 3 and reports half the
# difference, as for inference. TRAIN=0 skips it.
#
# With PROFILE=DIR, the -iters 1 run of each network and path also writes
# DIR/<network>-<path>.txt: the instructions of the whole run (setup and
# eleven inferences) by Go function, most first (DIR/train-<path>.txt for
# the -steps 1 run of the training step).
#
# Needs Debian's qemu-user (the dynamically linked qemu-aarch64; the
# static build of qemu-user-static cannot load plugins) and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

nets=${NETS-"mobilenet_v2 mobilenet_v3_small"}
size=${SIZE:-224}
train=${TRAIN:-1}
batch=${BATCH:-8}
train_arch=${TRAIN_ARCH:-"in1x28x28 cls10 | conv_o16_k3_arelu | ir_o16_m16_arelu | ir_o24_m48_s2_ahswish_se16 | ir_o24_m72_ahswish_se24 | ir_o48_m144_s2_arelu | ir_o48_m288_arelu | ir_o96_m288_s2_ahswish | conv_o256_k1_ahswish | gap | linear_o10"}
for tool in qemu-aarch64 cc; do
	if ! command -v "$tool" >/dev/null; then
		echo "arm64_insns: $tool not found (apt-get install qemu-user gcc)" >&2
		exit 1
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -shared -fPIC -fvisibility=hidden -o "$tmp/libinsncount.so" bench/arm64insn/insncount.c
GOARCH=arm64 go build -o "$tmp/planrun-neon" ./bench/planrun
GOARCH=arm64 go build -tags noasm -o "$tmp/planrun-generic" ./bench/planrun
if [ "$train" != 0 ]; then
	GOARCH=arm64 go build -o "$tmp/trainbench-neon" ./bench/trainbench
	GOARCH=arm64 go build -tags noasm -o "$tmp/trainbench-generic" ./bench/trainbench
fi

# count prints the instructions of one run of binary $1 with the
# arguments after $2 ($2: profile file or empty).
count() {
	local bin=$1 prof=$2 plugin="$tmp/libinsncount.so"
	shift 2
	if [ -n "$prof" ]; then
		plugin="$plugin,profile=$prof.blocks"
	fi
	GOGC=off qemu-aarch64 -plugin "$plugin" -d plugin -D "$tmp/log" "$bin" "$@" >/dev/null
	sed -n 's/^insns: //p' "$tmp/log"
	if [ -n "$prof" ]; then
		byFunction "$bin" "$prof.blocks" >"$prof"
		rm "$prof.blocks"
	fi
}

# byFunction sums the profile $2 of binary $1 by function.
byFunction() {
	go tool nm -n -size "$1" | /usr/bin/python3 -c '
import bisect, collections, sys
syms = sorted((int(f[0], 16), int(f[1]), f[3]) for f in (l.split(None, 3) for l in sys.stdin) if f[2] in "Tt")
starts = [s[0] for s in syms]
total, by = 0, collections.Counter()
for line in open(sys.argv[1]):
    addr, n = line.split()
    addr, n = int(addr, 16), int(n)
    i = bisect.bisect_right(starts, addr) - 1
    name = syms[i][2].strip() if i >= 0 and addr < syms[i][0] + max(syms[i][1], 1) else "?"
    by[name] += n
    total += n
for name, n in by.most_common():
    print(f"{100 * n / total:6.2f}% {n:14d} {name}")
' "$2"
}

# perInference prints the instructions of one inference ($3: profile file
# or empty).
perInference() {
	local one three
	one=$(count "$1" "$3" -net "$2" -size "$size" -threads 1 -iters 1)
	three=$(count "$1" "" -net "$2" -size "$size" -threads 1 -iters 3)
	echo $(((three - one) / 2))
}

# perStep prints the instructions of one training step ($1: binary, $2:
# profile file or empty).
perStep() {
	local one three
	one=$(count "$1" "$2" -arch "$train_arch" -batch "$batch" -threads 1 -steps 1)
	three=$(count "$1" "" -arch "$train_arch" -batch "$batch" -threads 1 -steps 3)
	echo $(((three - one) / 2))
}

qemu=$(qemu-aarch64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
if [ -n "$nets" ]; then
	echo "batch-1 inference, ${size}x${size}, one thread: guest instructions per inference (qemu-aarch64 $qemu)"
	printf '%-22s %16s %16s %8s\n' network neon generic ratio
	for net in $nets; do
		pn="" pg=""
		if [ -n "${PROFILE:-}" ]; then
			mkdir -p "$PROFILE"
			pn="$PROFILE/$net-neon.txt" pg="$PROFILE/$net-generic.txt"
		fi
		neon=$(perInference "$tmp/planrun-neon" "$net" "$pn")
		generic=$(perInference "$tmp/planrun-generic" "$net" "$pg")
		ratio=$(awk -v g="$generic" -v n="$neon" 'BEGIN { printf "%.2f", g / n }')
		printf '%-22s %16d %16d %8s\n' "$net" "$neon" "$generic" "$ratio"
	done
fi
if [ "$train" != 0 ]; then
	pn="" pg=""
	if [ -n "${PROFILE:-}" ]; then
		mkdir -p "$PROFILE"
		pn="$PROFILE/train-neon.txt" pg="$PROFILE/train-generic.txt"
	fi
	neon=$(perStep "$tmp/trainbench-neon" "$pn")
	generic=$(perStep "$tmp/trainbench-generic" "$pg")
	ratio=$(awk -v g="$generic" -v n="$neon" 'BEGIN { printf "%.2f", g / n }')
	echo "training step, batch $batch, one thread: guest instructions per step (qemu-aarch64 $qemu)"
	echo "arch: $train_arch"
	printf '%-22s %16s %16s %8s\n' "" neon generic ratio
	printf '%-22s %16d %16d %8s\n' "step" "$neon" "$generic" "$ratio"
fi
