"""Per-step cost of the SSIM-family losses: value and gradient with respect to the logits, compiled as a training
step compiles them, on this process's backend (``KERAS_BACKEND``), in the layout and batch size of the models
``--backend auto`` trains there: JAX the dense models (vectors, batch 256), TensorFlow the conv models (28 x 28 x 1
images, batch 128).

With ``--against COMMIT`` the same losses at that commit (its ``replicate/losses.py``) are timed in turn with
today's, and their values compared: a check that a faster loss computes the same numbers.

    KERAS_BACKEND=jax python benchmarks/bench_losses.py [--against COMMIT] [--repeats 7]
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import interleaved, medians, parser, ratio, save

from replicate import losses

KEYS = ("ssim", "ms_ssim_l1")
CALLS = 20  # calls per timed repetition


def losses_at(commit: str):
    """``replicate/losses.py`` as it was at ``commit``, imported as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{commit}:replicate/losses.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"losses_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def step(fn, a: np.ndarray, z: np.ndarray):
    """(per-sample values, gradient of their sum) of ``fn``, compiled once; returns a function that runs it."""
    import keras
    from keras import ops

    if keras.backend.backend() == "jax":
        import jax

        compiled = jax.jit(lambda zz, aa: (fn(aa, zz), jax.grad(lambda v: ops.sum(fn(aa, v)))(zz)))
        return lambda: [np.asarray(x) for x in jax.block_until_ready(compiled(z, a))]
    import tensorflow as tf

    @tf.function
    def compiled(zz, aa):
        with tf.GradientTape() as tape:
            tape.watch(zz)
            per_sample = fn(aa, zz)
            total = tf.reduce_sum(per_sample)
        return per_sample, tape.gradient(total, zz)

    zt, at = tf.constant(z), tf.constant(a)
    return lambda: [x.numpy() for x in compiled(zt, at)]


def main(argv=None) -> int:
    import keras

    p = parser(__doc__, repeats=7)
    p.add_argument("--against", help="a commit whose losses to time in turn with today's")
    args = p.parse_args(argv)
    args.images = keras.backend.backend() == "tensorflow"
    args.batch = 128 if args.images else 256
    rng = np.random.default_rng(0)
    shape = (args.batch, 28, 28, 1) if args.images else (args.batch, 784)
    a = rng.random(shape, dtype=np.float32)
    a[: args.batch // 4] = np.round(a[: args.batch // 4] * 4) / 4  # flat regions, where variances are near 0
    z = (rng.normal(size=shape) * 2).astype(np.float32)
    versions = {"now": losses} | ({args.against: losses_at(args.against)} if args.against else {})
    steps = {f"{key}@{name}": step(getattr(module, key), a, z) for name, module in versions.items() for key in KEYS}
    outputs = {name: run() for name, run in steps.items()}  # compiles each; untimed

    def timing(run):
        def timed_calls():
            start = time.perf_counter()
            for _ in range(CALLS):
                run()
            return (time.perf_counter() - start) / CALLS
        return timed_calls

    times = interleaved({name: timing(run) for name, run in steps.items()}, args.repeats)
    m = medians(times)
    print(f"{keras.backend.backend()}, batch {args.batch}, {'images' if args.images else 'vectors'}, median of "
          f"{args.repeats} x {CALLS} steps:")
    figures = {"batch": args.batch, "images": args.images, "against": args.against, "repeats": args.repeats,
               "calls": CALLS, "seconds_per_step": times, "median_s": m, "per_key": {}}
    for key in KEYS:
        line = f"  {key}: {m[f'{key}@now'] * 1e3:.2f} ms"
        entry = {"now_ms": round(m[f"{key}@now"] * 1e3, 3)}
        if args.against:
            old = f"{key}@{args.against}"
            (v_new, g_new), (v_old, g_old) = outputs[f"{key}@now"], outputs[old]
            speedup = ratio(times, old, f"{key}@now")
            entry |= {"against_ms": round(m[old] * 1e3, 3), "speedup": speedup,
                      "max_value_difference": float(np.max(np.abs(v_new - v_old))),
                      "max_gradient_difference_relative": float(np.max(np.abs(g_new - g_old)) / np.max(np.abs(g_old)))}
            line += (f", at {args.against} {m[old] * 1e3:.2f} ms -> {speedup['of_medians']:.2f}x (paired "
                     f"{speedup['paired_median']:.2f}x, {speedup['paired_min']:.2f}-{speedup['paired_max']:.2f}); "
                     f"values differ by at most {entry['max_value_difference']:.1e}, gradients by "
                     f"{entry['max_gradient_difference_relative']:.1e} of their largest")
        figures["per_key"][key] = entry
        print(line)
    save(f"loss_step_{keras.backend.backend()}", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
