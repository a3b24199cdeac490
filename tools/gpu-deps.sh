#!/usr/bin/env bash
# gpu-deps: for a GPU machine that has CUDA but neither the Debian packages this build needs nor a
# package registry (a bare CUDA image, say). Run it where apt works:
#     tools/gpu-deps.sh            # downloads the .deb files into .gpudeps/ (git-ignored, ~20 MB)
# then copy .gpudeps to the GPU machine: tools/gpu-check.sh unpacks them into .gpudeps/root when
# the headers are missing there, and builds against that prefix (rpath; nothing installed into /).
set -euo pipefail
cd "$(dirname "$0")/.."
# the build's libraries, Criterion's runtime dependencies, and make (tools/packages.sh)
# shellcheck source=tools/packages.sh
. tools/packages.sh
PKGS="$GPU_RUNTIME"
mkdir -p .gpudeps
cd .gpudeps
rm -f ./*.deb
apt-get download $PKGS
echo "gpu-deps: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1) in .gpudeps/"
