#!/usr/bin/env bash
# The test suite on a fresh Debian or Ubuntu machine, in one command:
#     bash tests/run.sh [pytest arguments]
# 1. Installs the Debian packages the tests use, where they are missing (apt, through sudo
#    when not root): dataset-fashion-mnist (the tests' Fashion-MNIST), chromium and
#    chromium-driver (the latent explorer's browser test), python3-venv (for step 2).
# 2. Makes the virtual environment .venv (or reuses it) and installs this checkout with its
#    test extras: pip install -e '.[test]'.
# 3. Runs pytest on both cores: python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder
#    --durations=25 tests (the longest files first: tests/conftest.py's LONGEST_FIRST)
#    (the 25 slowest tests are listed at the end, to keep the suite fast)
#    (arguments given to this script replace those pytest options: bash tests/run.sh -x tests/test_eval.py).
# Nothing else is downloaded: the tests read no network and no data beside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "tests/run.sh: $*" >&2; }

missing=()
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ -d .venv ] || python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null; then sudo="sudo"; else
            say "cannot install ${missing[*]}: not root and no sudo. Install them with apt-get, then run this again."
            exit 2
        fi
    fi
    if ! command -v apt-get >/dev/null; then
        say "cannot install ${missing[*]}: no apt-get on this machine (the script expects Debian or Ubuntu). Install their equivalents, then run this again."
        exit 2
    fi
    say "installing Debian packages: ${missing[*]}"
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
        say "apt-get could not install ${missing[*]}; install them by hand, then run this again."
        exit 2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    say "making the virtual environment .venv"
    python3 -m venv .venv
fi
. .venv/bin/activate
python -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { say "Python 3.10 or newer is needed (.venv has $(python --version))."; exit 2; }
say "installing this checkout into .venv: pip install -e '.[test]'"
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'

if [ $# -eq 0 ]; then set -- -n 2 --dist loadfile --no-loadscope-reorder --durations=25 tests; fi
exec python -m pytest -q "$@"
