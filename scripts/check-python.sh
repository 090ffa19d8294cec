#!/usr/bin/env bash
# Check that PYTHON (default python3) is 3.11 or later and can create a virtual environment, which Debian's and
# Ubuntu's python3 can only with python3.X-venv: installed here as root, otherwise the command is printed.
# Usage: scripts/check-python.sh PYTHON LOCK   (exit 2 when make cannot go on)
set -u
py="${1:-python3}"
lock="${2:-}"
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: $py was not found; install Python 3.11 or later, or name one with make PYTHON=/path/to/python3" >&2
  exit 2
fi
version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $py is Python $version and the project needs 3.11 or later; name another with" \
       "make PYTHON=python3.11 (or its path)" >&2
  exit 2
fi
if [ -n "$lock" ] && [ "$version" != "3.11" ]; then
  echo "note: $lock holds the versions resolved for Python 3.11 and this is $version; if installing them fails," \
       "run the same make command with LOCK= (the newest versions pyproject.toml allows)" >&2
fi
if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  "$(dirname "$0")/system-deps.sh" "python$version-venv"
  if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "error: $py cannot create a virtual environment (no ensurepip); on Debian or Ubuntu install" \
         "python$version-venv (as root: apt-get install -y python$version-venv), then run make again" >&2
    exit 2
  fi
fi
