"""replicate: the Keras autoencoder tutorial under BCE and alternative losses, with measured midtone evidence.

Pipeline (one module, one job): data -> models/losses -> train -> metrics -> analysis -> figures/report,
with ``cli`` as the thin entry point. ``theory`` holds the closed-form per-pixel loss facts.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from replicate import numerics as _numerics, quiet as _quiet

# Before TensorFlow or JAX loads, here or in a child process: their start-up log would bury the progress lines,
# and on a GPU they must compute deterministically and in float32 (replicate.numerics).
_quiet.install()
_numerics.install()

try:
    __version__ = _version("replicate")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
