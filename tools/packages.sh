# The Debian packages gcrm needs, in one place; sourced by tools/deps.sh, tools/gpu-deps.sh and
# .ci/run (through deps.sh).
#   BUILD   build and test (make test, make reproduce)
#   FORMAT  the formatting check (tools/format.sh --check)
#   BENCH   what `make bench` compares against (PyTorch)
#   ORACLE  what regenerates the test fixtures (PyTorch, scikit-learn, SciPy)
#   FUZZ    the fuzz harnesses (make fuzz: clang with libFuzzer and its OpenMP runtime)
#   GPU_RUNTIME  BUILD's libraries and their runtime dependencies as .deb files, for a CUDA machine
#                without a package registry (tools/gpu-deps.sh downloads them)
# shellcheck disable=SC2034
BUILD="gcc make pkg-config libc6-dev libcriterion-dev libcjson-dev libcsv-dev libopenblas-openmp-dev libgsl-dev zlib1g-dev libcurl4-openssl-dev libpcre2-dev gnuplot-nox openmpi-bin libopenmpi-dev"
FORMAT="clang-format"
BENCH="python3 python3-torch python3-numpy"
ORACLE="python3 python3-torch python3-numpy python3-sklearn python3-scipy"
FUZZ="clang-14 libclang-rt-14-dev libomp-14-dev"
GPU_RUNTIME="make libcjson-dev libcjson1 libcsv-dev libcsv3 libgsl-dev libgsl27 libgslcblas0 libopenblas-openmp-dev
      libopenblas0-openmp libopenblas-dev libgfortran5 libquadmath0 zlib1g-dev zlib1g
      libcriterion-dev libcriterion3 libgit2-1.5 libnanomsg5 libmbedtls14 libmbedx509-1
      libmbedcrypto7 libhttp-parser2.9 libssh2-1 libffi8 libpcre2-8-0 libpcre2-dev libpcre2-16-0
      libpcre2-32-0 libpcre2-posix3 libgssapi-krb5-2 libkrb5-3
      libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 libssl3"
