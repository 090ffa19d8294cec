"""replicate: the Keras autoencoder tutorial under BCE and alternative losses, with measured midtone evidence.

Pipeline (one module, one job): data -> models/losses -> train -> metrics -> analysis -> figures/report,
with ``cli`` as the thin entry point. ``theory`` holds the closed-form per-pixel loss facts.
"""
import os
from importlib.metadata import PackageNotFoundError, version as _version

# TensorFlow's C++ start-up chatter (CUDA probing, CPU feature notes) would bury the progress lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    __version__ = _version("replicate")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
