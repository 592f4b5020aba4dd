#!/usr/bin/env bash
# The one command that installs what is missing, builds armnet and runs the
# whole test suite (what CI runs, through .ci/run).
# Usage: tools/test.sh [--sanitize]
#   --sanitize  build into build-asan with AddressSanitizer + UBSan instead
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build
cmake_flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
if [[ "${1:-}" == "--sanitize" ]]; then
  build_dir=build-asan
  cmake_flags+=(-DARMNET_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
tools/install_deps.sh
cmake -S . -B "$build_dir" "${cmake_flags[@]}"
cmake --build "$build_dir" -j "$(nproc)"
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)"
