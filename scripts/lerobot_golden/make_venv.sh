#!/usr/bin/env bash
# Build the LeRobot 0.6.1 oracle venv for make_golden.py. Developer tool only: never part of the package,
# `make test` or CI. LeRobot 0.6.1 declares Python >= 3.12, torch < 2.12 and transformers 5.4-5.6; it runs
# on Python 3.11 with the CPU torch 2.13 after patch_lerobot.py rewrites a few lines of 3.12-only syntax
# and stubs torchvision (pi0_fast uses neither). Usage: scripts/lerobot_golden/make_venv.sh [VENV_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-/work/side/lerobot-venv}"
python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 
python3 -m venv "$venv"
# Pinned (torch==2.13.0 resolves to the local CPU wheel; an unpinned torch would pull CUDA builds).
"$venv/bin/pip" install --quiet -r "$here/requirements-lerobot.txt" --no-deps
"$venv/bin/pip" install --quiet --no-deps --ignore-requires-python lerobot==0.6.1
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$venv/bin/python" "$here/patch_lerobot.py" "$site"
"$venv/bin/python" -c 'from lerobot.policies.pi0_fast import modeling_pi0_fast; print("lerobot pi0_fast imports")'
