#!/usr/bin/env bash
# Set up everything ctrl needs on a fresh Debian machine, idempotently:
#   1. apt packages (firejail) — needs root or sudo;
#   2. the sandbox's unprivileged users and firejail allow-list (sandbox/setup_host.sh);
#   3. a virtual environment at .venv with the pinned Python dependencies and ctrl itself.
# Re-running is cheap: each step checks whether it is already done.
# Usage: bash scripts/setup.sh        (called by `make demo` and `make test`)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: not root and no sudo: install firejail and run sandbox/setup_host.sh as root" >&2
    exit 1
  fi
fi

# 1. apt packages
if ! command -v firejail >/dev/null; then
  echo "setup: installing firejail (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq firejail >/dev/null
fi

# 2. sandbox users (one per worker slot) allowed in /etc/firejail/firejail.users
if [ -f sandbox/setup_host.sh ]; then
  $SUDO bash sandbox/setup_host.sh
fi

# 3. Python environment
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "setup: ctrl needs Python 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.ctrl-installed"
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python dependencies into .venv (a few minutes on a fresh machine)"
  # torch first and exactly: this release's CPU build is on local disk; letting the resolver pick
  # torch would pull a multi-GB CUDA build.
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$want" > "$stamp"
fi
echo "setup: ok ($(.venv/bin/python --version), firejail $(firejail --version | head -1 | awk '{print $3}'))"
