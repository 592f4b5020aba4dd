#!/bin/sh
# Convolution micro-benchmark, armnet against PyTorch on the same shapes.
#
#   bench/conv_bench.sh [--batch N] [--repeat N] [BUILD_DIR]
#
# Runs bench/conv_bench_torch.py when /usr/bin/python3 has torch, then
# BUILD_DIR/armnet_conv_bench (default: build) with --compare on its CSV.
# Both use 2 threads unless OMP_NUM_THREADS / --threads say otherwise.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build"
flags=""
while [ $# -gt 0 ]; do
  case "$1" in
    --batch|--repeat) flags="$flags $1 $2"; shift 2 ;;
    -*) echo "conv_bench.sh: unknown flag $1" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
bench="$build/armnet_conv_bench"
[ -x "$bench" ] || { echo "conv_bench.sh: $bench not found; build it (ninja armnet_conv_bench) or pass the build dir" >&2; exit 1; }
threads="${OMP_NUM_THREADS:-2}"
# PyTorch allocates every output afresh, and glibc serves blocks over 32 MiB
# with mmap and unmaps them on free, so each call of a large layer would
# page-fault its whole output (100 MB for conv1 at batch 32): PyTorch's conv1
# and 56x56 numbers drop from ~300 to ~20-60 GFLOP/s, which measures the
# allocator, not the convolution. These two settings keep freed memory in the
# heap. armnet_conv_bench preallocates its outputs and keeps its workspace
# between calls, so it is unaffected. Set them yourself to override.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-1073741824}"
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-1073741824}"
csv="$(mktemp --suffix=.csv)"
trap 'rm -f "$csv"' EXIT
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  # shellcheck disable=SC2086
  /usr/bin/python3 "$here/conv_bench_torch.py" $flags --threads "$threads" --output "$csv"
  # shellcheck disable=SC2086
  OMP_NUM_THREADS="$threads" "$bench" $flags --compare "$csv"
else
  echo "conv_bench.sh: /usr/bin/python3 has no torch; armnet only" >&2
  # shellcheck disable=SC2086
  OMP_NUM_THREADS="$threads" "$bench" $flags
fi
