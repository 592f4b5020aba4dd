#!/usr/bin/env bash
# The main job in one command, on a fresh Debian 12 machine: install what is
# missing, build armnet, write a synthetic RAF-DB, train ResNet-18 + ARM on
# it, test the result with a confusion-matrix picture, predict a few images,
# and print where every output went.
#
# Usage: tools/main_job.sh [OUT_DIR]        (default: runs/main-job)
#
# The demo is scaled for a 2-core CPU (about 5 minutes of training): 2,400
# training and 600 test images of 100x100 pixels, resized to 112x112 for the
# network (the ARM then amends a 5x5 map: at 64x64 it would be 1x1, too
# little to learn from), batch 64, 8 epochs. The real job is the same commands
# on RAF-DB with the reference's defaults (224x224, batch 256, 70 epochs),
# from torchvision's ImageNet ResNet-18 as the reference starts, which armnet
# finds where PyTorch keeps it (~/.cache/torch/hub/checkpoints/
# resnet18-f37072fd.pth, or $TORCH_HOME/hub/checkpoints/):
#   build/armnet train --data ./datasets/raf-basic/ --out runs/raf
# Environment: ARMNET_DEMO_EPOCHS, ARMNET_DEMO_TRAIN, ARMNET_DEMO_TEST and
# ARMNET_DEMO_IMAGE_SIZE override the demo's sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/main-job}"
epochs="${ARMNET_DEMO_EPOCHS:-8}"
train_images="${ARMNET_DEMO_TRAIN:-2400}"
test_images="${ARMNET_DEMO_TEST:-600}"
image_size="${ARMNET_DEMO_IMAGE_SIZE:-112}"

echo "== 1/5 dependencies"
tools/install_deps.sh
echo "== 2/5 build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target armnet
armnet=build/armnet

echo "== 3/5 synthetic RAF-DB"
data="$out/raf-synth"
if [[ -f "$data/EmoLabel/list_patition_label.txt" ]]; then
  echo "(reusing $data)"
else
  "$armnet" synth --out "$data" --train "$train_images" --test "$test_images" --seed 1
fi

echo "== 4/5 train"
# A fresh demo run each time (the demo's own directory); ImageNet weights mean
# nothing to generated faces, so none are looked for.
rm -rf "$out/train"
"$armnet" train --data "$data" --out "$out/train" --pretrained none --image_size "$image_size" \
  --batch_size 64 --val_batch_size 64 --epochs "$epochs" --workers 2 --seed 1

echo "== 5/5 test and predict"
mkdir -p "$out/test"
"$armnet" test -c "$out/train" --data "$data" -b 64 -p --out "$out/test" | tee "$out/test/report.txt"
"$armnet" predict -c "$out/train" "$data/Image/aligned/test_0001_aligned.jpg" "$data/Image/aligned/test_0002_aligned.jpg" |
  tee "$out/predictions.txt"

cat <<DONE

== outputs
  data set           $data  (labels: EmoLabel/list_patition_label.txt, images: Image/aligned/)
  checkpoints        $out/train/best.safetensors, $out/train/last.safetensors
  metrics per epoch  $out/train/metrics.csv
  training curves    $out/train/curves.png
  test report        $out/test/report.txt
  confusion matrix   $out/test/confusion_matrix.png
  predictions        $out/predictions.txt
DONE
