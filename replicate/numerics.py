"""How the backends compute on a GPU: the same numbers twice, and float32 products in float32 as on a CPU.

Measured on an NVIDIA H200 with JAX (benchmarks/RESULTS.md, 2026-12-04): with JAX's defaults, two identical smoke
sweeps agreed bit for bit in 1 of 9 runs, and float32 matrix products ran as TF32, which moved the VAE's losses
outside ``replicate compare``'s tolerances against a CPU sweep. With XLA's deterministic GPU ops both sweeps agreed
in 13 of 13 runs, and with full float32 products as well the GPU sweep matched the CPU one. Neither setting changes
what a CPU computes. Unlike :mod:`replicate.quiet`, this changes computation: :func:`install` runs at import of
``replicate``, before JAX or TensorFlow starts, so this process and every child process get both; settings the
user made win. XLA reads its flags when its backend starts, so in a process that started JAX before importing
``replicate`` only the precision can still be set (:func:`settings` reports what is in force). No Keras import."""
from __future__ import annotations

import os
import re
import sys
from typing import MutableMapping

DETERMINISTIC_OPS = "--xla_gpu_deterministic_ops"
#: What each variable holds after :func:`install` when the user set neither.
DEFAULTS = {"XLA_FLAGS": f"{DETERMINISTIC_OPS}=true", "JAX_DEFAULT_MATMUL_PRECISION": "highest"}
_NAMED = re.compile(rf"(^|\s){DETERMINISTIC_OPS}(=|\s|$)")


def install(environ: MutableMapping[str, str] = os.environ) -> None:
    """Add XLA's deterministic GPU ops to ``XLA_FLAGS`` unless it names them, and ask JAX for float32 matrix
    products in float32 unless ``JAX_DEFAULT_MATMUL_PRECISION`` is set (also in a JAX already loaded)."""
    flags = environ.get("XLA_FLAGS", "")
    if not _NAMED.search(flags):
        environ["XLA_FLAGS"] = f"{flags} {DEFAULTS['XLA_FLAGS']}".strip()
    if "JAX_DEFAULT_MATMUL_PRECISION" not in environ:
        environ["JAX_DEFAULT_MATMUL_PRECISION"] = DEFAULTS["JAX_DEFAULT_MATMUL_PRECISION"]
        if environ is os.environ and "jax" in sys.modules:  # JAX read its environment when it was imported
            import jax

            if jax.config.jax_default_matmul_precision is None:
                jax.config.update("jax_default_matmul_precision", DEFAULTS["JAX_DEFAULT_MATMUL_PRECISION"])


def settings(environ: MutableMapping[str, str] = os.environ) -> dict[str, str | None]:
    """The settings in force, for a sweep's provenance: the flags, and JAX's own precision where JAX is loaded."""
    found = {name: environ.get(name) for name in DEFAULTS}
    if environ is os.environ and "jax" in sys.modules:
        import jax

        found["JAX_DEFAULT_MATMUL_PRECISION"] = jax.config.jax_default_matmul_precision
    return found
