#!/usr/bin/env bash
# Install the Debian packages the project needs (as root), or print the exact command to run.
# Usage: scripts/system-deps.sh PACKAGE...   e.g. dataset-fashion-mnist chromium
# Each package is installed on its own, so one that this release lacks (Ubuntu has no chromium deb) does not keep
# the others out; a failed `apt-get update` (one broken source) still lets the packages its lists know install.
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  log=$(mktemp)  # apt's own notes (debconf, dpkg) are shown only when an install fails
  # A fresh VM's unattended upgrades may hold the package lists' lock for a while: wait for that, not for the rest.
  for try in 1 2 3 4 5 6; do
    apt-get update -qq >"$log" 2>&1 && break
    if [ "$try" -eq 6 ] || ! grep -qiE "could not get lock|held by process" "$log"; then
      echo "warning: apt-get update failed; installing from the package lists there are" >&2
      break
    fi
    sleep 10
  done
  for pkg in "${missing[@]}"; do
    # Wait for another apt (unattended upgrades on a fresh VM) instead of failing at once.
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$pkg" >>"$log" 2>&1; then
      cat "$log" >&2
      echo "warning: could not install $pkg; the steps that need it will say so" >&2
    fi
    : >"$log"
  done
  rm -f "$log"
else
  echo "note: missing Debian packages ${missing[*]}; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
fi
exit 0
