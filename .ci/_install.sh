#!/usr/bin/env bash
# CI entry point: installs everything Titan needs on a fresh Debian machine, then runs the
# README's test command. Safe to run again (it skips what is already installed).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the one list in scripts/debian-packages.txt (what each group is for is
# commented there); the README's install command reads it too.
mapfile -t APT_PACKAGES < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' scripts/debian-packages.txt)
((${#APT_PACKAGES[@]})) || { echo ".ci/run: no packages in scripts/debian-packages.txt" >&2; exit 1; }
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A virtual environment inside the clone, with every extra (desktop, api, ops, voice, dev).
if [ ! -x .ci/venv/bin/python ]; then
  python3 -m venv .ci/venv
fi
# shellcheck disable=SC1091
source .ci/venv/bin/activate
python -m pip install -q --upgrade pip
# ai-local builds llama-cpp-python from its sdist the first time (about 6 min on 2 quiet cores),
# then pip takes the wheel from its cache.
python -m pip install -q -e ".[all,bench,ai-local]"

