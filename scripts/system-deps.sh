#!/usr/bin/env bash
# Install the Debian packages the project needs (as root), or print the exact command to run.
# Usage: scripts/system-deps.sh PACKAGE...   e.g. dataset-fashion-mnist chromium
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  log=$(mktemp)  # apt's own notes (debconf, dpkg) are shown only when the install fails
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "warning: could not install ${missing[*]}; the steps that need them will say so" >&2
  fi
  rm -f "$log"
else
  echo "note: missing Debian packages ${missing[*]}; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
fi
exit 0
