#!/usr/bin/env bash
# Builds, here, everything tools/gpu_check.sh needs on a lent GPU machine into
# one folder of at most 64 MiB (ARMNET_BUNDLE_DIR, default .gpu-bundle/ in the
# checkout, which git ignores): the armnet program (with ONNX, for the
# onnxruntime comparison), the CUDA test programs,
# the CUDA kernel benchmark, the training-step benchmark, and the shared
# libraries that machine lacks. It
# has the CUDA 13 runtime, cuDNN and cuBLAS (PyTorch's nvidia packages),
# CMake and nvcc, but no Debian packages; oneDNN is left out (the CPU side of
# the check then runs the reference convolution).
#
#   tools/gpu_bundle.sh            # then: run tools/gpu_check.sh there, carrying .gpu-bundle
#
# Machine code for sm_90 (H100/H200) only, to keep the bundle small.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${ARMNET_BUNDLE_DIR:-.gpu-bundle}
build=build-gpu

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DARMNET_CUDA=ON -DARMNET_CUDA_ARCHS=90 \
  -DCMAKE_DISABLE_FIND_PACKAGE_dnnl=ON -DARMNET_OPENCV=OFF "${launcher[@]}" >/dev/null
# gpu_check.sh exports ONNX graphs there with the bundle's armnet (its
# onnxruntime row): the build needs ONNX here (libonnx-dev), whose shared
# libraries the bundle then carries (ONNX's graphs are 45 MB, too big to
# carry, so they are made there).
grep -q ARMNET_WITH_ONNX "$build/build.ninja" ||
  echo "gpu_bundle: warning: armnet is built without ONNX (libonnx-dev): gpu_check.sh's onnxruntime row will fail" >&2
programs=(armnet armnet_cuda_kernels armnet_train_bench)
for source in tests/test_cuda_*.cpp; do programs+=("$(basename "$source" .cpp)"); done
cmake --build "$build" --target "${programs[@]}"

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
for program in "${programs[@]}"; do strip -o "$bundle/bin/$program" "$build/$program"; done
cp "$build"/libarmnet_gemm_*.so "$bundle/lib/"

# Every shared library the programs load, but those of the C runtime (newer
# on that machine, and compatible) and the big CUDA libraries that PyTorch's
# packages provide there (cuBLAS, cuDNN).
is_provided_there() {
  case "$1" in
    linux-vdso* | ld-linux* | libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | libgcc_s.so* | \
      libstdc++.so* | libcublas* | libcudnn* | libcuda.so*) return 0 ;;
  esac
  return 1
}
for program in "$bundle"/bin/*; do
  LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64" ldd "$program" | while read -r name _ path _; do
    [[ -n "${path:-}" && -f "$path" ]] || continue
    is_provided_there "$name" && continue
    [[ -f "$bundle/lib/$name" ]] || cp -L "$path" "$bundle/lib/$name"
  done
done

# Every library resolves (CUDA's from the toolkit here, from PyTorch's packages there).
missing=$(for program in "$bundle"/bin/* "$bundle"/lib/*.so*; do
  LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64" ldd "$program" 2>/dev/null | grep "not found" || true
done | sort -u)
if [[ -n "$missing" ]]; then
  echo "gpu_bundle: unresolved libraries:" >&2
  echo "$missing" >&2
  exit 1
fi
size=$(du -sm "$bundle" | cut -f1)
if ((size > 60)); then
  echo "gpu_bundle: $bundle is $size MiB, over what a device call carries (64 MiB with the checkout)" >&2
  exit 1
fi
echo "gpu_bundle: $bundle ($size MiB): ${programs[*]}, $(ls "$bundle/lib" | wc -l) libraries"
