#!/usr/bin/env bash
# The one check of the CUDA backend on a lent GPU machine: run there, in the
# checkout's root, with the bundle that tools/gpu_bundle.sh built here
# (ARMNET_BUNDLE_DIR, default .gpu-bundle). Under 8 minutes (a deadline,
# ARMNET_CHECK_SECONDS, default 450, bounds every step; a step that would
# start past it is reported as not run); prints one short table at the end;
# every log goes to $OUT (default ./gpu-check-out). In order of what a short
# lease most needs:
#   1. the CUDA test programs (every op against its CPU twin, the whole model,
#      the allocator, checkpoints across devices): passed / failed / skipped
#   2. two epochs on a small synthetic set with --device cuda against the
#      same on the CPU: the losses per epoch side by side (within 2%); then
#      that model exported as ONNX (float32, float16) run in onnxruntime
#      against armnet's logits
#   3. mixed precision: one synthetic epoch each in float32, O1 and O2,
#      float16 and bfloat16 (loss, skipped steps, images/s of the epoch), and
#      the training step of armnet_train_bench at batch 64, 224x224 (images/s,
#      peak GPU memory) in each
#   4. each hand-written kernel at the model's shapes against its bandwidth
#      floor (armnet_cuda_kernels, at the main job's 112x112 and the
#      reference's 224x224), and the de-albino convolution by hand vs cuDNN
#   5. compute-sanitizer memcheck over the op tests (uncached allocator, so
#      every tensor is its own allocation) and racecheck over the programs
#      whose kernels use shared memory
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${ARMNET_BUNDLE_DIR:-.gpu-bundle}
out=${OUT:-gpu-check-out}
mkdir -p "$out"
start_seconds=$SECONDS
deadline=$((SECONDS + ${ARMNET_CHECK_SECONDS:-450}))
[[ -x "$bundle/bin/armnet" ]] || { echo "gpu_check: no bundle in $bundle: run tools/gpu_bundle.sh here first" >&2; exit 2; }

# CUDA's libraries: the bundle's, then those of PyTorch's nvidia packages.
nvidia_libs=$(python3 -c '
import glob, os, site
dirs = sorted({os.path.dirname(p) for base in site.getsitepackages()
               for p in glob.glob(os.path.join(base, "nvidia", "**", "lib*.so*"), recursive=True)})
print(":".join(dirs))' 2>/dev/null)
export LD_LIBRARY_PATH="$bundle/lib:$nvidia_libs:${LD_LIBRARY_PATH:-}"
export ARMNET_SOURCE_DIR=$PWD  # the test programs find tests/fixtures and tests/data here
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

rows=()
row() { rows+=("$(printf '%-44s %-10s %s' "$1" "$2" "$3")"); }
# The seconds a step may take: its own limit, cut to what is left before the
# deadline; 0 (the step is not run) when under 10 seconds are left.
limit() {
  local left=$((deadline - SECONDS))
  if ((left < 10)); then echo 0; elif ((left < $1)); then echo "$left"; else echo "$1"; fi
}

{ nvidia-smi -L; nvidia-smi --query-gpu=driver_version,memory.total,clocks.sm,clocks.mem --format=csv; } \
  > "$out/gpu.txt" 2>&1 || echo "no nvidia-smi on this machine" > "$out/gpu.txt"
for program in "$bundle"/bin/*; do ldd "$program" | grep "not found"; done > "$out/ldd_missing.txt"
if [[ -s "$out/ldd_missing.txt" ]]; then row "shared libraries" "MISSING" "$(tr '\n' ' ' < "$out/ldd_missing.txt")"; fi

# Boost.Test's summary of a log: "12 cases" / "3 failures" (and the first failure).
summary_of() {
  local log=$1
  if grep -q "^skipped:" "$log"; then
    grep -m1 "^skipped:" "$log" | cut -c1-150
  elif grep -q "No errors detected" "$log"; then
    echo "$(grep -o 'Running [0-9]* test case' "$log" | grep -o '[0-9]*' | head -1) cases"
  else
    echo "$(grep -o '[0-9]* failure' "$log" | head -1): $(grep -m1 'error:' "$log" | cut -c1-150)"
  fi
}

# ---- 1. the CUDA tests -------------------------------------------------------------
for program in "$bundle"/bin/test_cuda_*; do
  name=$(basename "$program")
  seconds=$(limit 240)
  if ((seconds == 0)); then row "$name" "NOT RUN" "deadline reached"; continue; fi
  begin=$SECONDS
  timeout "$seconds" "$program" --log_level=test_suite --report_level=short > "$out/$name.log" 2>&1
  status=$?
  case $status in
    0) result=passed ;;
    77) result=SKIPPED ;;
    124) result=TIMEOUT ;;
    *) result=FAILED ;;
  esac
  row "$name" "$result" "$(summary_of "$out/$name.log"), $((SECONDS - begin)) s"
done

# ---- 2. two epochs, CPU against CUDA -------------------------------------------------
data="$out/synth"
"$bundle/bin/armnet" synth --out "$data" --train 128 --test 32 --size 100 --seed 3 > "$out/synth.log" 2>&1
for device in cpu cuda; do
  seconds=$(limit 240)
  if ((seconds == 0)); then row "train 2 epochs --device $device" "NOT RUN" "deadline reached"; continue; fi
  begin=$SECONDS
  timeout "$seconds" "$bundle/bin/armnet" train --raf_path "$data" --device "$device" --image_size 112 --batch_size 32 \
    --val_batch_size 32 --epochs 2 --workers 4 --seed 7 --out "$out/run_$device" > "$out/train_$device.log" 2>&1
  status=$?
  row "train 2 epochs --device $device" "$([[ $status == 0 ]] && echo done || echo "FAILED $status")" "$((SECONDS - begin)) s"
done
if [[ -f "$out/run_cpu/metrics.csv" && -f "$out/run_cuda/metrics.csv" ]]; then
  # Float32 on two devices rounds differently and the difference grows over
  # the steps; 2% of the loss after two epochs is far above that and far
  # below what a wrong kernel gives.
  while IFS= read -r line; do row "$line" "" ""; done < <(python3 - "$out/run_cpu/metrics.csv" "$out/run_cuda/metrics.csv" <<'PY'
import csv, sys
cpu = list(csv.DictReader(open(sys.argv[1])))
cuda = list(csv.DictReader(open(sys.argv[2])))
for a, b in zip(cpu, cuda):
    for key in ("train_loss", "val_loss"):
        x, y = float(a[key]), float(b[key])
        ok = abs(x - y) <= 0.02 * abs(x)
        print(f"epoch {a['epoch']} {key}: cpu {x:.5f} cuda {y:.5f} {'ok' if ok else 'DIFFERS'}")
PY
)
fi

# ---- 2b. the exported ONNX graphs in onnxruntime ---------------------------------------
# Step 2's checkpoint (112x112, trained statistics) exported as ONNX, float32
# and float16 (the bundle's armnet has ONNX: tools/gpu_bundle.sh), against
# armnet's own logits on the same 4 images (dump-grads --eval): float32 on
# onnxruntime's CPU provider within 1e-4 of the largest logit, float16 on
# its CUDA provider (reported; 2e-2 counts as agreeing). docs/deployment.md.
onnx_dir="$out/onnx"
checkpoint=""
for run in "$out/run_cuda" "$out/run_cpu"; do [[ -f "$run/best.safetensors" ]] && { checkpoint=$run; break; }; done
seconds=$(limit 120)
if ((seconds == 0)); then
  row "onnxruntime vs armnet" "NOT RUN" "deadline reached"
elif [[ -z "$checkpoint" ]]; then
  row "onnxruntime vs armnet" "NOT RUN" "no checkpoint from step 2"
else
  mkdir -p "$onnx_dir"
  result=$(timeout "$seconds" bash -c '
    set -e
    armnet=$1 checkpoint=$2 dir=$3
    python3 - "$dir/input.safetensors" <<PY
import json, struct, sys, numpy as np
x = np.random.default_rng(3).standard_normal((4, 3, 112, 112)).astype(np.float32)
t = np.zeros(4, np.int64)
h = json.dumps({"input": {"dtype": "F32", "shape": list(x.shape), "data_offsets": [0, x.nbytes]},
                "target": {"dtype": "I64", "shape": [4], "data_offsets": [x.nbytes, x.nbytes + t.nbytes]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + x.tobytes() + t.tobytes())
PY
    "$armnet" export -c "$checkpoint" --onnx "$dir/model.onnx" --weights "$dir/weights.safetensors" >&2
    "$armnet" export -c "$checkpoint" --onnx "$dir/model_fp16.onnx" --amp fp16 >&2
    "$armnet" dump-grads --model arm --weights "$dir/weights.safetensors" --input "$dir/input.safetensors" \
      --out "$dir/armnet.safetensors" --eval >&2
    python3 - "$dir" <<PY
import json, struct, sys, numpy as np, onnxruntime as ort
d = sys.argv[1]
def read(path, name):
    data = open(path, "rb").read(); n = struct.unpack("<Q", data[:8])[0]
    info = json.loads(data[8:8 + n])[name]; b, e = info["data_offsets"]
    dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
    return np.frombuffer(data[8 + n + b:8 + n + e], dtype).reshape(info["shape"])
x, want = read(d + "/input.safetensors", "input"), read(d + "/armnet.safetensors", "logits")
def diff(file, providers):
    got = ort.InferenceSession(d + "/" + file, providers=providers).run(["logits"], {"input": x})[0]
    return float(np.abs(got - want).max() / np.abs(want).max())
cuda = "CUDAExecutionProvider" in ort.get_available_providers()
f32 = diff("model.onnx", ["CPUExecutionProvider"])
f16 = diff("model_fp16.onnx", ["CUDAExecutionProvider"] if cuda else ["CPUExecutionProvider"])
ok = f32 <= 1e-4 and f16 <= 2e-2
where = "CUDA" if cuda else "CPU"
print(("agrees" if ok else "DIFFERS") + f"|onnxruntime {ort.__version__}: float32 (CPU) {f32:.1e}, "
      f"float16 ({where}) {f16:.1e} of the largest logit")
PY
  ' _ "$bundle/bin/armnet" "$checkpoint" "$onnx_dir" 2> "$onnx_dir/log.txt")
  status=$?
  rm -f "$onnx_dir"/*.onnx "$onnx_dir"/weights.safetensors "$onnx_dir"/armnet.safetensors  # 45 MB each
  if [[ $status == 0 && -n "$result" ]]; then
    row "onnxruntime vs armnet" "${result%%|*}" "${result#*|}"
  else
    row "onnxruntime vs armnet" "FAILED $status" "$(grep -v '^[[:space:]]*$' "$onnx_dir/log.txt" | tail -1 | cut -c1-150)"
  fi
fi

# ---- 3. mixed precision: an epoch and a step benchmark per setting ---------------------
for setting in "off fp16" "O1 fp16" "O2 fp16" "O1 bf16" "O2 bf16"; do
  read -r amp amp_dtype <<< "$setting"
  name="amp $amp $amp_dtype"
  [[ $amp == off ]] && name="float32"
  seconds=$(limit 90)
  if ((seconds == 0)); then row "$name" "NOT RUN" "deadline reached"; continue; fi
  run="$out/amp_${amp}_$amp_dtype"
  timeout "$seconds" "$bundle/bin/armnet" train --raf_path "$data" --device cuda --image_size 112 --batch_size 32 \
    --val_batch_size 32 --epochs 1 --workers 4 --seed 7 --amp "$amp" --amp_dtype "$amp_dtype" --out "$run" \
    > "$run.log" 2>&1
  status=$?
  epoch=$(python3 - "$run/metrics.csv" <<'PY' 2>/dev/null
import csv, sys
row = list(csv.DictReader(open(sys.argv[1])))[-1]
print(f"loss {float(row['train_loss']):.4f}, skipped {row['skipped_steps']}, scale {float(row['loss_scale']):g}, "
      f"{128 / float(row['seconds']):.0f} img/s (epoch with validation)")
PY
)
  seconds=$(limit 60)
  step=""
  if ((seconds > 0)); then
    step=$(timeout "$seconds" "$bundle/bin/armnet_train_bench" --device cuda --batch 64 --size 224 --warmup 3 \
      --steps 20 --amp "$amp" --amp_dtype "$amp_dtype" 2>&1 | tee "$run.bench.txt" |
      sed -n 's/.*images_per_s=\([0-9.]*\).*peak_mib=\([0-9.]*\).*/step \1 img\/s, peak \2 MiB/p')
  fi
  row "$name" "$([[ $status == 0 ]] && echo done || echo "FAILED $status")" "${epoch:-no metrics}; ${step:-no bench}"
done

# ---- 4. the hand-written kernels against their bandwidth floor -----------------------
for size in 112 224; do
  seconds=$(limit 90)
  if ((seconds == 0)); then row "armnet_cuda_kernels --image_size $size" "NOT RUN" "deadline reached"; continue; fi
  begin=$SECONDS
  timeout "$seconds" "$bundle/bin/armnet_cuda_kernels" --image_size "$size" > "$out/kernels_$size.txt" 2>&1
  status=$?
  row "armnet_cuda_kernels --image_size $size" "$([[ $status == 0 ]] && echo done || echo "FAILED $status")" \
    "$((SECONDS - begin)) s, table below"
done

# ---- 5. compute-sanitizer ----------------------------------------------------------
if command -v compute-sanitizer >/dev/null; then
  for program in "$bundle"/bin/test_cuda_*; do
    name=$(basename "$program")
    [[ $name == test_cuda_model ]] && continue  # the whole model: too slow under the sanitizer
    seconds=$(limit 120)
    if ((seconds == 0)); then row "memcheck $name" "NOT RUN" "deadline reached"; continue; fi
    begin=$SECONDS
    ARMNET_CUDA_ALLOC=plain timeout "$seconds" compute-sanitizer --tool memcheck --leak-check no --error-exitcode 3 \
      "$program" > "$out/memcheck_$name.log" 2>&1
    status=$?
    errors=$(grep -o 'ERROR SUMMARY: [0-9]* error' "$out/memcheck_$name.log" | tail -1)
    row "memcheck $name" "$([[ $status == 0 ]] && echo clean || echo "EXIT $status")" "${errors:-no summary}, $((SECONDS - begin)) s"
  done
  # Every program whose hand-written kernels use shared memory (block_reduce).
  for program in "$bundle"/bin/test_cuda_norm_pool "$bundle"/bin/test_cuda_loss_optim "$bundle"/bin/test_cuda_elementwise \
    "$bundle"/bin/test_cuda_conv; do
    [[ -x $program ]] || continue
    name=$(basename "$program")
    seconds=$(limit 90)
    if ((seconds == 0)); then row "racecheck $name" "NOT RUN" "deadline reached"; continue; fi
    begin=$SECONDS
    timeout "$seconds" compute-sanitizer --tool racecheck --error-exitcode 3 "$program" > "$out/racecheck_$name.log" 2>&1
    status=$?
    hazards=$(grep -o 'RACECHECK SUMMARY: [0-9]* hazard' "$out/racecheck_$name.log" | tail -1)
    row "racecheck $name" "$([[ $status == 0 ]] && echo clean || echo "EXIT $status")" "${hazards:-no summary}, $((SECONDS - begin)) s"
  done
else
  row "compute-sanitizer" "ABSENT" "not on this machine"
fi

echo
echo "== armnet gpu_check: $(head -1 "$out/gpu.txt"), $((SECONDS - start_seconds)) s"
printf '%s\n' "${rows[@]}"
for size in 112 224; do
  [[ -f "$out/kernels_$size.txt" ]] && { echo; cat "$out/kernels_$size.txt"; }
done
exit 0
