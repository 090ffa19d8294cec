"""Where a convolutional model's training step goes on TensorFlow: each layer alone, forward and backward, at the
post's batch size, beside the whole step and the memory rate of an elementwise op (a profile; no target).

Each layer of the model gets inputs of its own shape and runs forward and backward in a ``tf.function`` (the
gradient of the sum of its squared outputs with respect to its weights and, except for the first layer, its input,
as in training). FLOP are 2 per multiply-add of every product computed (forward, weights' gradient, input's
gradient). "Traffic" is a lower bound on memory traffic if each tensor were read or written once per pass: forward
reads the input and writes the output; backward reads the output's gradient and the input and writes the input's
gradient. The memory rate is ``x + 1`` on 2**26 floats (read once, written once), median of the repetitions.

    python benchmarks/profile_layers.py [--models conv denoising] [--repeats 5]
"""
from __future__ import annotations

import math
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from bench_flops import layer_macs  # noqa: E402
from common import interleaved, parser, save, timed  # noqa: E402
from replicate import models  # noqa: E402

BATCH = 128  # the post's batch size for both convolutional models
STEPS = 64  # steps per timing: two of the runner's executions of 32


def _seconds_per_call(fn, x, repeats: int) -> tuple[float, list[float]]:
    for _ in range(3):
        fn(x)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(STEPS):
            out = fn(x)
        float(out[0].numpy().ravel()[0])  # wait for the last call
        seconds.append((time.perf_counter() - start) / STEPS)
    return statistics.median(seconds), seconds


def memory_rate(repeats: int) -> float:
    """Bytes per second that TensorFlow's ``x + 1`` moves (read and write) on a 256 MiB float32 tensor."""
    import tensorflow as tf

    x = tf.zeros((2**26,), tf.float32)
    add = tf.function(lambda t: (t + 1.0,))
    median, _ = _seconds_per_call(add, x, repeats)
    return 2 * 4 * 2**26 / median


def layer_work(layer, first: bool) -> tuple[int, int]:
    """FLOP and bytes of traffic (as defined above) of one forward and backward pass of ``layer`` on a batch."""
    n_in, n_out = BATCH * math.prod(layer.input.shape[1:]), BATCH * math.prod(layer.output.shape[1:])
    products = 2 if first else 3  # forward and weights' gradient, and the input's gradient after the first layer
    return 2 * BATCH * layer_macs(layer) * products, 4 * (2 * n_in + 2 * n_out + (0 if first else n_in))


def layer_profile(layer, first: bool, repeats: int) -> dict:
    import numpy as np
    import tensorflow as tf

    shape = (BATCH, *layer.input.shape[1:])
    x = tf.constant(np.random.default_rng(0).random(shape, dtype=np.float32))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            total = tf.reduce_sum(y * y)
        return tape.gradient(total, [*layer.trainable_variables, *([] if first else [x])])

    median, seconds = _seconds_per_call(step, x, repeats)
    flop, traffic = layer_work(layer, first)
    return {"layer": layer.name, "input": list(shape[1:]), "output": list(layer.output.shape[1:]),
            "seconds": round(median, 6), "runs": [round(s, 6) for s in seconds],
            "gflop_per_s": round(flop / median / 1e9, 1), "traffic_mb": round(traffic / 1e6, 1),
            "gb_per_s": round(traffic / median / 1e9, 2)}


def whole_steps(name: str, repeats: int, policies=("float32", "mixed_bfloat16")) -> dict[str, list[float]]:
    """Seconds per training step of the whole model (BCE, Adam, the runner's ``steps_per_execution``) at the post's
    batch size, bare ``fit`` on a plain ``tf.data`` pipeline with the runner's options (autotuning off: with it, some
    epochs run at half speed on 2 cores; not the runner's feed, which gathers shuffled batches and prefetches), under
    each Keras dtype policy (``mixed_bfloat16``: bfloat16 layers but the float32 logits and sigmoid, float32
    weights), timed in turn."""
    import keras
    import numpy as np
    import tensorflow as tf

    from replicate import train

    images = np.random.default_rng(0).random((BATCH * STEPS, 28, 28, 1), dtype=np.float32)
    x = tf.data.Dataset.from_tensor_slices((images, images)).batch(BATCH).with_options(train._data_options())
    fits, before = {}, keras.mixed_precision.global_policy().name
    for policy in policies:
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = models.build(name, seed=0).autoencoder
        finally:
            keras.mixed_precision.set_global_policy(before)
        model.compile(optimizer="adam", loss="binary_crossentropy", steps_per_execution=train.STEPS_PER_EXECUTION)
        fits[policy] = lambda m=model: m.fit(x, epochs=1, verbose=0, shuffle=False)  # the pipeline is in order
    return interleaved({p: lambda f=fit: timed(f) / STEPS for p, fit in fits.items()}, repeats,
                       warmup=lambda: [fit() for fit in fits.values()])


def main(argv=None) -> int:
    p = parser(__doc__, repeats=5)
    p.add_argument("--models", nargs="+", default=["conv", "denoising"])
    args = p.parse_args(argv)
    import keras

    rate = memory_rate(args.repeats)
    print(f"memory rate of x + 1: {rate / 1e9:.1f} GB/s")
    figures = {"batch": BATCH, "steps_per_timing": STEPS, "repeats": args.repeats,
               "memory_rate_gb_per_s": round(rate / 1e9, 2), "models": {}}
    for name in args.models:
        built = models.build(name, seed=0)
        layers = [layer for layer in built.autoencoder.layers if not isinstance(layer, keras.layers.InputLayer)]
        rows = [layer_profile(layer, i == 0, args.repeats) for i, layer in enumerate(layers)]
        steps = whole_steps(name, args.repeats)
        step, bf16 = (statistics.median(steps[p]) for p in ("float32", "mixed_bfloat16"))
        total = sum(r["seconds"] for r in rows)
        figures["models"][name] = {"layers": rows, "sum_of_layers_seconds": round(total, 6),
                                   "whole_step_seconds": {p: [round(t, 6) for t in ts] for p, ts in steps.items()}}
        print(f"{name}: whole step {step * 1e3:.1f} ms (mixed_bfloat16 {bf16 * 1e3:.1f} ms), "
              f"layers alone {total * 1e3:.1f} ms")
        for r in rows:
            print(f"  {r['layer']:16s} {str(r['input']):14s} -> {str(r['output']):14s} {r['seconds'] * 1e3:6.1f} ms"
                  f" {r['gflop_per_s']:6.1f} GFLOP/s {r['gb_per_s']:6.2f} GB/s")
    save("conv_layers", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
