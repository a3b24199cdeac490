#!/usr/bin/env bash
# Checks (and, as root, installs) the Debian packages gcrm needs (the lists: tools/packages.sh).
#   tools/deps.sh build    packages to build and test (make test, make reproduce)
#   tools/deps.sh format   plus clang-format (the formatting check)
#   tools/deps.sh bench    plus what `make bench` compares against (PyTorch)
#   tools/deps.sh oracle   plus what regenerates the test fixtures (PyTorch, scikit-learn, SciPy)
#   tools/deps.sh fuzz     plus clang with libFuzzer (make fuzz)
# Several groups may be named at once. As root, missing packages are installed with apt-get;
# otherwise the exact command is printed and the script exits 1.
set -euo pipefail
# shellcheck source=tools/packages.sh
. "$(dirname "$0")/packages.sh"
want="$BUILD"
for group in "${@:-build}"; do
    case "$group" in
        build) ;;
        format) want="$want $FORMAT" ;;
        bench) want="$want $BENCH" ;;
        oracle) want="$want $ORACLE" ;;
        fuzz) want="$want $FUZZ" ;;
        *) echo "usage: $0 build|format|bench|oracle|fuzz ..." >&2; exit 2 ;;
    esac
done
missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "gcrm: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends $missing >&2
else
    echo "gcrm: missing Debian packages:$missing" >&2
    echo "gcrm: install them with:  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
