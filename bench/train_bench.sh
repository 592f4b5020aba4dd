#!/bin/sh
# Training-step and evaluation benchmark, armnet against PyTorch, one table.
#
#   bench/train_bench.sh [--model arm|resnet18] [--batch N] [--size S]
#                        [--warmup N] [--steps N] [BUILD_DIR]
#
# Builds BUILD_DIR/armnet_train_bench (default build dir: build; configured
# first if it has no CMakeCache.txt), then runs four processes one after the
# other, so that each peak resident size is its own: armnet train, armnet
# eval, PyTorch train, PyTorch eval (bench/train_bench_torch.py under
# /usr/bin/python3). PyTorch's rows are skipped, and the table says so, when
# /usr/bin/python3 has no torch. Every process gets the same thread count:
# OMP_NUM_THREADS if set, else nproc. Ratios are armnet / PyTorch: speed above
# 1 means armnet is faster, memory below 1 means armnet uses less.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build"
flags=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model|--batch|--size|--warmup|--steps)
      [ $# -ge 2 ] || { echo "train_bench.sh: $1 needs a value" >&2; exit 2; }
      flags="$flags $1 $2"; shift 2 ;;
    -*) echo "train_bench.sh: unknown flag $1" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
threads="${OMP_NUM_THREADS:-$(nproc)}"

if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "train_bench.sh: configuring $build" >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" --target armnet_train_bench >&2
bench="$build/armnet_train_bench"

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for mode in train eval; do
  # shellcheck disable=SC2086
  OMP_NUM_THREADS="$threads" "$bench" --mode "$mode" $flags | tee -a "$results"
done
have_torch=no
if /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null; then
  have_torch=yes
  for mode in train eval; do
    # shellcheck disable=SC2086
    OMP_NUM_THREADS="$threads" /usr/bin/python3 "$here/train_bench_torch.py" --mode "$mode" --threads "$threads" \
      $flags | tee -a "$results"
  done
else
  echo "train_bench.sh: /usr/bin/python3 has no torch; armnet's columns only" >&2
fi

echo
grep '^RESULT ' "$results" | awk -v have_torch="$have_torch" '
  {
    for (i = 2; i <= NF; ++i) { split($i, kv, "="); field[kv[1]] = kv[2] }
    key = field["framework"] SUBSEP field["mode"]
    rate[key] = field["images_per_s"]; peak[key] = field["peak_mib"]
    setting = sprintf("model %s, batch %s, %sx%s float32, %s threads, %s warm-up + %s timed steps (median)",
                      field["model"], field["batch"], field["size"], field["size"], field["threads"],
                      field["warmup"], field["steps"])
  }
  END {
    print setting
    if (have_torch != "yes") print "PyTorch not installed (/usr/bin/python3 has no torch): armnet only"
    print "| mode | armnet img/s | PyTorch img/s | speed ratio | armnet peak MiB | PyTorch peak MiB | memory ratio |"
    print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    split("train eval", modes, " ")
    for (m = 1; m <= 2; ++m) {
      a = "armnet" SUBSEP modes[m]; t = "torch" SUBSEP modes[m]
      if (t in rate)
        printf "| %s | %.1f | %.1f | %.2f | %.0f | %.0f | %.2f |\n", modes[m], rate[a], rate[t], rate[a] / rate[t],
               peak[a], peak[t], peak[a] / peak[t]
      else
        printf "| %s | %.1f | - | - | %.0f | - | - |\n", modes[m], rate[a], peak[a]
    }
  }'
