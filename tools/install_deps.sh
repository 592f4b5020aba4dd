#!/usr/bin/env bash
# Installs the Debian packages armnet builds with, if any are missing.
# Usage: tools/install_deps.sh [--with-torch]
#   --with-torch  also python3-torch and python3-torchvision (only for the
#                 side-by-side benchmarks and the fixture scripts; armnet
#                 itself never uses PyTorch)
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libeigen3-dev libboost-test-dev libstb-dev libcli11-dev nlohmann-json3-dev
          libfmt-dev libdnnl-dev libzip-dev zlib1g-dev libcairo2-dev fonts-dejavu-core
          libonnx-dev libprotobuf-dev protobuf-compiler
          libopencv-core-dev libopencv-imgproc-dev libopencv-dnn-dev libopencv-objdetect-dev opencv-data)
if [[ "${1:-}" == "--with-torch" ]]; then packages+=(python3-torch python3-torchvision); fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "armnet: all build dependencies are installed"
  exit 0
fi
echo "armnet: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
