#!/usr/bin/env bash
# gpu-check: on a machine with an NVIDIA GPU, in one call: build the CUDA path, run the CPU-vs-CUDA
# parity tests on the GPU, run fig2 at mini scale on cuda in fp32 and in bf16, and the GPU
# training benchmark. Writes three files into OUTDIR (few, for remote machines that hand back only
# a handful): summary.json (each part's outcome; for each fig2 run its exit, time, the
# pair-sampling stage's time, the policy's greedy accuracy per split and the pooled AUROCs),
# gpu-check.log (nvidia-smi, the build, the parity tests, the fig2 runs with their results.json,
# and the benchmark's table, one section each) and bench-gpu.jsonl (the benchmark's rows).
# Each part has its own time limit so the whole stays under 6 minutes on one H200. Where the machine
# lacks the build's Debian packages, bring .gpudeps (tools/gpu-deps.sh) along: it builds from them.
# usage: tools/gpu-check.sh OUTDIR      (make gpu-check OUT=DIR; call the script itself where make
#        is missing; GPU_CHECK_DEBS=1 builds from .gpudeps even where the packages are installed)
set -uo pipefail
out=${1:?usage: tools/gpu-check.sh OUTDIR}
mkdir -p "$out"
work=$(mktemp -d)
collect() { # every part's log into one file, a section each
    for f in nvidia-smi.txt deps.log build.log parity.log fig2-cuda-fp32.log fig2-cuda-fp32.json \
             fig2-cuda-bf16.log fig2-cuda-bf16.json bench-gpu.log; do
        [ -f "$work/$f" ] && { echo "===== $f"; cat "$work/$f"; }
    done > "$out/gpu-check.log"
    rm -rf "$work"
}
trap collect EXIT
start=$(date +%s)
# the whole check ends within 6 minutes: each part gets its own limit or what is left, if less
left() { # part limit in seconds -> the limit to use (1 when no time is left)
    local rest=$(( start + 350 - $(date +%s) ))
    (( rest < 5 )) && echo 1 && return  # timeout 0 would mean no limit
    (( $1 < rest )) && echo "$1" || echo "$rest"
}
{ nvidia-smi || echo "nvidia-smi failed"; } > "$work/nvidia-smi.txt" 2>&1

# A CUDA machine without the Debian packages (and no registry to fetch them): build against the
# .deb files that tools/gpu-deps.sh downloaded elsewhere into .gpudeps/, unpacked into a prefix.
make_args=()
if ! echo '#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <csv.h>
#include <gsl/gsl_cdf.h>
#include <zlib.h>' | ${CC:-cc} -E -x c - > /dev/null 2>&1 || ! command -v make > /dev/null ||
   [ -n "${GPU_CHECK_DEBS:-}" ]; then
    if ! ls .gpudeps/*.deb > /dev/null 2>&1; then
        printf '{"build": "failed", "why": "the build dependencies are missing and .gpudeps/ holds no packages (run tools/gpu-deps.sh where apt works and bring .gpudeps)"}\n' > "$out/summary.json"
        cat "$out/summary.json" >&2
        exit 1
    fi
    root=$PWD/.gpudeps/root
    rm -rf "$root" && mkdir -p "$root"
    for f in .gpudeps/*.deb; do dpkg-deb -x "$f" "$root"; done
    # absolute links (zlib's libz.so) point into the prefix
    find "$root" -type l -lname '/*' | while read -r l; do ln -sfn "$root$(readlink "$l")" "$l"; done
    # libraries the system has already are not shadowed, except the build's own
    syslibs=$(ldconfig -p 2>/dev/null)
    for so in "$root"/usr/lib/x86_64-linux-gnu/*.so.* "$root"/lib/x86_64-linux-gnu/*.so.*; do
        name=$(basename "$so")
        case "$name" in libcjson*|libcsv*|libgsl*|libz.*|libcriterion*|libgfortran*|libquadmath*) continue ;; esac
        grep -q "[[:space:]]$name " <<< "$syslibs" && rm -f "$so"
    done
    lib="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
    export CFLAGS="${CFLAGS:-} -I$root/usr/include -I$root/usr/include/x86_64-linux-gnu"
    # DT_RPATH, not RUNPATH: the loader searches RUNPATH for a binary's own libraries only, so
    # libraries that libraries need (libgslcblas for libgsl) were not found; LD_LIBRARY_PATH too
    export LDFLAGS="${LDFLAGS:-} -L$root/usr/lib/x86_64-linux-gnu -L$root/lib/x86_64-linux-gnu -Wl,--disable-new-dtags -Wl,-rpath,$lib -Wl,-rpath-link,$lib"
    export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PATH="$PATH:$root/usr/bin"
    make_args=(BLAS_DIR="$root/usr/lib/x86_64-linux-gnu/openblas-openmp"
               BLAS_INC="$root/usr/include/x86_64-linux-gnu/openblas-openmp")
    echo "gpu-check: building against the packages in .gpudeps ($root)" | tee "$work/deps.log"
fi
py=$(command -v /usr/bin/python3 || command -v python3)

if ! timeout "$(left 150)" make -j"$(nproc)" "${make_args[@]}" all build/gcrm-tests build/gcrm-bench-gpu > "$work/build.log" 2>&1; then
    printf '{"build": "failed", "log": "gpu-check.log"}\n' > "$out/summary.json"
    echo "gpu-check: build failed, see $out/gpu-check.log" >&2
    exit 1
fi
build_s=$(( $(date +%s) - start ))

GCRM_BIN=build/replicate timeout "$(left 90)" build/gcrm-tests --filter 'cuda*' --verbose --jobs 1 \
    > "$work/parity.log" 2>&1
parity_rc=$?
count() { grep -c "^\[$1\] cuda" "$work/parity.log"; }

# fig2 at mini scale on cuda, fp32 and bf16, each from a clean cache: its outcome, the
# pair-sampling stage's seconds, the policy's greedy accuracy and the pooled AUROCs
fig2() { # name, extra flags
    local t0=$(date +%s) rc
    timeout "$(left 110)" build/replicate run experiments/fig2.json --scale mini --root "$work/runs-$1" $2 \
        > "$work/fig2-$1.log" 2>&1
    rc=$?
    cp "$work/runs-$1/fig2/mini/results.json" "$work/fig2-$1.json" 2>/dev/null
    rm -rf "$work/runs-$1"
    "$py" -c "import json, sys
s = {'exit': $rc, 'seconds': $(( $(date +%s) - t0 ))}
try:
    r = json.load(open('$work/fig2-$1.json'))
    s['pairs_seconds'] = next((t['wall_s'] for t in r['stages'] if t['stage'] == 'pairs'), None)
    s['policy_accuracy'] = r.get('policy_accuracy')
    s['pooled_auroc'] = {k: r['pooled'][k]['mean'] for k in ('baseline', 'goal')}
except Exception:
    pass
print(json.dumps(s))" 2>/dev/null || printf '{"exit": %d}' "$rc"
}
f_fp32=$(fig2 cuda-fp32 "--device cuda --precision fp32")
f_bf16=$(fig2 cuda-bf16 "--device cuda --precision bf16")

timeout "$(left 120)" build/gcrm-bench-gpu > "$out/bench-gpu.jsonl" 2> "$work/bench-gpu.log"
bench_rc=$?

bench=$("$py" -c "import json
rows = [json.loads(l) for l in open('$out/bench-gpu.jsonl') if l.strip()]
print(json.dumps([r for r in rows if r.get('bench') in ('train', 'gemm', 'profile')]))" 2>/dev/null || echo '[]')
nvcc=$(command -v /usr/local/cuda/bin/nvcc || command -v nvcc || echo none)
cat > "$out/summary.json" <<EOF
{"build": "ok", "build_seconds": $build_s, "nvcc": "$nvcc",
 "parity": {"exit": $parity_rc, "passed": $(count PASS), "failed": $(count FAIL), "skipped": $(count SKIP)},
 "fig2_mini": {"cuda_fp32": $f_fp32, "cuda_bf16": $f_bf16},
 "bench_gpu": {"exit": $bench_rc, "rows": $bench},
 "seconds": $(( $(date +%s) - start ))}
EOF
cat "$out/summary.json"
[ "$parity_rc" = 0 ] && [ "$bench_rc" = 0 ]
