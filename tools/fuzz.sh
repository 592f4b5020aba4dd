#!/usr/bin/env bash
# tools/fuzz.sh TARGET SECONDS: fuzzes one of armnet's untrusted-input readers
# (or all four, SECONDS each) with libFuzzer + ASan + UBSan.
#
#   TARGET   safetensors | torch_checkpoint | label_list | image | all
#   SECONDS  how long to fuzz each target
#
# Builds build-fuzz/ with clang (-DARMNET_FUZZ=ON; the first build takes
# minutes), writes the seed corpus (tests/sample_files.h) into
# build-fuzz/corpus/TARGET/ (the corpus libFuzzer grows; the seeds are
# rewritten each run), fuzzes, and puts crashes, hangs, leaks and out-of-memory
# inputs into build-fuzz/findings/TARGET/. Reproduce one with
#   build-fuzz/fuzz_TARGET build-fuzz/findings/TARGET/crash-...
# The fuzzer's output is in build-fuzz/logs/TARGET.log.
set -euo pipefail

readonly TARGETS=(safetensors torch_checkpoint label_list image)

usage() {
  echo "usage: $0 TARGET SECONDS" >&2
  echo "  TARGET: ${TARGETS[*]} | all" >&2
  echo "  SECONDS: fuzzing time per target (a positive integer)" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
target=$1
seconds=$2
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage
if [[ $target == all ]]; then
  selected=("${TARGETS[@]}")
elif [[ " ${TARGETS[*]} " == *" $target "* ]]; then
  selected=("$target")
else
  usage
fi

cd "$(dirname "$0")/.."
readonly build=build-fuzz

# The longest input libFuzzer makes: the seeds are a few KB; a .pth is a zip
# archive with a member per tensor, so it gets more room.
max_len() {
  case $1 in
    torch_checkpoint) echo 262144 ;;
    *) echo 65536 ;;
  esac
}

if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DARMNET_FUZZ=ON -DARMNET_CUDA=OFF -DARMNET_BUILD_TESTS=OFF
fi
cmake --build "$build" --target armnet_fuzz_seeds "${selected[@]/#/fuzz_}"

mkdir -p "$build/corpus" "$build/logs"
"$build/armnet_fuzz_seeds" "$build/corpus" >/dev/null

# Any sanitizer report is fatal and lands in findings/; leaks are reported.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=1
export OMP_NUM_THREADS=1

summary=()
for name in "${selected[@]}"; do
  corpus=$build/corpus/$name
  findings=$build/findings/$name
  log=$build/logs/$name.log
  mkdir -p "$findings"
  echo "== fuzzing $name for $seconds s (log: $log)"
  status=0
  "$build/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$name")" \
    -artifact_prefix="$findings/" -print_final_stats=1 "$corpus" >"$log" 2>&1 || status=$?
  # The start, the end, and any finding (the rest is libFuzzer's progress).
  grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|Done |==[0-9]+==|SUMMARY|artifact_prefix)' "$log" || true
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus_size=$(find "$corpus" -type f | wc -l)
  finding_count=$(find "$findings" -type f | wc -l)
  summary+=("$(printf '%-17s executions %-10s exec/s %-7s corpus %-6s findings %s%s' "$name" "${executions:-?}" \
    "${per_second:-?}" "$corpus_size" "$finding_count" "$( ((status == 0)) || echo " (fuzzer exit $status)")")")
done

echo "== summary ($seconds s per target)"
printf '%s\n' "${summary[@]}"
