#!/usr/bin/env bash
# gpu-deps: for a GPU machine that has CUDA but neither the Debian packages this build needs nor a
# package registry (a bare CUDA image, say). Run it where apt works:
#     tools/gpu-deps.sh            # downloads the .deb files into .gpudeps/ (git-ignored, ~20 MB)
# then copy .gpudeps to the GPU machine: tools/gpu-check.sh unpacks them into .gpudeps/root when
# the headers are missing there, and builds against that prefix (rpath; nothing installed into /).
set -euo pipefail
cd "$(dirname "$0")/.."
# the build's libraries, Criterion's runtime dependencies, and make
PKGS="make libcjson-dev libcjson1 libgsl-dev libgsl27 libgslcblas0 libopenblas-openmp-dev
      libopenblas0-openmp libopenblas-dev libgfortran5 libquadmath0 zlib1g-dev zlib1g
      libcriterion-dev libcriterion3 libgit2-1.5 libnanomsg5 libmbedtls14 libmbedx509-1
      libmbedcrypto7 libhttp-parser2.9 libssh2-1 libffi8 libpcre2-8-0 libgssapi-krb5-2 libkrb5-3
      libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 libssl3"
mkdir -p .gpudeps
cd .gpudeps
rm -f ./*.deb
apt-get download $PKGS
echo "gpu-deps: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1) in .gpudeps/"
