"""Where a convolutional model's training step goes on TensorFlow: each layer alone, forward and backward, at the
post's batch size, beside the whole step and the memory rate of an elementwise op (a profile; no target).

Each layer of the model gets inputs of its own shape and runs forward and backward in a ``tf.function`` (the
gradient of the sum of its squared outputs with respect to its weights and, except for the first layer, its input,
as in training). FLOP are 2 per multiply-add of every product computed (forward, weights' gradient, input's
gradient). "Traffic" is a lower bound on memory traffic if each tensor were read or written once per pass: forward
reads the input and writes the output; backward reads the output's gradient and the input and writes the input's
gradient. The memory rate is ``x + 1`` on 2**26 floats (read once, written once), median of the repetitions.

``--rewrites`` tests why the one-channel layers are slow: the whole step as built against the same model with its
3 x 3 convolutions of one input or output channel written as matrix products and its upsampling as a broadcast
(the same arithmetic in other kernels; outputs equal up to float32 summation order).

    python benchmarks/profile_layers.py [--models conv denoising] [--repeats 5] [--rewrites]
"""
from __future__ import annotations

import math
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from bench_flops import layer_macs  # noqa: E402
from common import interleaved, parser, ratio, save, timed  # noqa: E402
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


def _timed_steps(built: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per training step of each model in ``built`` (BCE, Adam, the runner's ``steps_per_execution``) at the
    post's batch size, bare ``fit`` on a plain ``tf.data`` pipeline with the runner's options (autotuning off: with
    it, some epochs run at half speed on 2 cores; not the runner's feed, which gathers shuffled batches and
    prefetches), timed in turn."""
    import numpy as np
    import tensorflow as tf

    from replicate import train

    images = np.random.default_rng(0).random((BATCH * STEPS, 28, 28, 1), dtype=np.float32)
    x = tf.data.Dataset.from_tensor_slices((images, images)).batch(BATCH).with_options(train._data_options())
    fits = {}
    for label, model in built.items():
        model.compile(optimizer="adam", loss="binary_crossentropy", steps_per_execution=train.STEPS_PER_EXECUTION)
        fits[label] = lambda m=model: m.fit(x, epochs=1, verbose=0, shuffle=False)  # the pipeline is in order
    return interleaved({label: lambda f=fit: timed(f) / STEPS for label, fit in fits.items()}, repeats,
                       warmup=lambda: [fit() for fit in fits.values()])


def whole_steps(name: str, repeats: int, policies=("float32", "mixed_bfloat16")) -> dict[str, list[float]]:
    """Seconds per whole training step of model ``name`` under each Keras dtype policy (``mixed_bfloat16``:
    bfloat16 layers but the float32 logits and sigmoid, float32 weights)."""
    import keras

    built, before = {}, keras.mixed_precision.global_policy().name
    for policy in policies:
        keras.mixed_precision.set_global_policy(policy)
        try:
            built[policy] = models.build(name, seed=0).autoencoder
        finally:
            keras.mixed_precision.set_global_policy(before)
    return _timed_steps(built, repeats)


def _rewrite_classes():
    """Layers computing what Keras' do, in other kernels: a 3 x 3 'same' convolution with one input or one output
    channel as matrix products, and nearest upsampling by 2 as a broadcast (Keras repeats twice)."""
    import keras
    from keras import ops

    class ProductConv(keras.layers.Conv2D):
        def call(self, x):
            _, _, cin, cout = self.kernel.shape
            h, w = x.shape[1], x.shape[2]
            if cin == 1:  # the nine shifted copies of the image side by side, then one product with the kernel
                padded = ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
                taps = ops.concatenate([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=-1)
                out = ops.matmul(taps, ops.reshape(self.kernel, (9, cout)))
            else:  # one product to each tap's output map, then the maps summed, each shifted by its tap
                per_tap = ops.reshape(ops.transpose(self.kernel, (2, 0, 1, 3)), (cin, 9 * cout))
                maps = ops.pad(ops.matmul(x, per_tap), ((0, 0), (1, 1), (1, 1), (0, 0)))
                out = sum(maps[:, i:i + h, j:j + w, (3 * i + j) * cout:(3 * i + j + 1) * cout]
                          for i in range(3) for j in range(3))
            return self.activation(out + self.bias)

    class BroadcastUpSampling(keras.layers.UpSampling2D):
        def call(self, x):
            _, h, w, c = x.shape
            wide = ops.broadcast_to(x[:, :, None, :, None, :], (ops.shape(x)[0], h, 2, w, 2, c))
            return ops.reshape(wide, (-1, 2 * h, 2 * w, c))

    return ProductConv, BroadcastUpSampling


def rewritten(model, convs: bool, upsampling: bool):
    """``model`` with the same weights, its one-channel convolutions (``convs``) and its upsampling layers
    (``upsampling``) replaced by the rewrites above."""
    import keras

    product_conv, broadcast_up = _rewrite_classes()

    plain_conv = {"padding": "same", "strides": (1, 1), "dilation_rate": (1, 1), "groups": 1,
                  "data_format": "channels_last", "use_bias": True}
    nearest_by_2 = {"size": (2, 2), "interpolation": "nearest", "data_format": "channels_last"}

    def clone(layer):
        config, cls = layer.get_config(), type(layer)
        if (convs and isinstance(layer, keras.layers.Conv2D) and layer.kernel.shape[:2] == (3, 3)
                and 1 in layer.kernel.shape[2:] and all(config[k] == v for k, v in plain_conv.items())):
            cls = product_conv
        elif (upsampling and isinstance(layer, keras.layers.UpSampling2D)
              and all(config[k] == v for k, v in nearest_by_2.items())):
            cls = broadcast_up
        return cls.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def rewritten_steps(name: str, repeats: int) -> dict:
    """Whole steps of model ``name`` as built and with its slow layers rewritten, and how far each rewrite's
    outputs are from Keras' before training (float32 summation order only)."""
    import numpy as np

    base = models.build(name, seed=0).autoencoder
    built = {"as built": base, "one-channel convolutions as products": rewritten(base, True, False),
             "upsampling as a broadcast": rewritten(base, False, True), "both": rewritten(base, True, True)}
    x = np.random.default_rng(1).random((256, 28, 28, 1), dtype=np.float32)
    reference = base.predict(x, verbose=0)
    differences = {label: float(np.abs(model.predict(x, verbose=0) - reference).max())
                   for label, model in built.items() if model is not base}
    return {"step_seconds": _timed_steps(built, repeats), "max_output_difference": differences}


def main(argv=None) -> int:
    p = parser(__doc__, repeats=5)
    p.add_argument("--models", nargs="+", default=["conv", "denoising"])
    p.add_argument("--rewrites", action="store_true",
                   help="time only the whole steps with the slow layers rewritten (results/conv_rewrites.json)")
    args = p.parse_args(argv)
    import keras

    if args.rewrites:
        return rewrites(args.models, args.repeats)

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


def rewrites(names, repeats: int) -> int:
    """``--rewrites``: each model's whole step as built and rewritten, the paired ratios, into conv_rewrites.json."""
    figures = {"batch": BATCH, "steps_per_timing": STEPS, "repeats": repeats, "models": {}}
    for name in names:
        found = rewritten_steps(name, repeats)
        steps = found["step_seconds"]
        figures["models"][name] = {"step_seconds": {k: [round(t, 6) for t in ts] for k, ts in steps.items()},
                                   "against_as_built": {k: ratio(steps, "as built", k) for k in steps if k != "as built"},
                                   "max_output_difference": found["max_output_difference"]}
        for label, ts in steps.items():
            line = f"{name}: {label:38s} {statistics.median(ts) * 1e3:6.1f} ms per step"
            if label != "as built":
                r = figures["models"][name]["against_as_built"][label]
                line += (f", as built / this {r['paired_median']:.2f} ({r['paired_min']:.2f}-{r['paired_max']:.2f}),"
                         f" outputs within {found['max_output_difference'][label]:.1e}")
            print(line)
    save("conv_rewrites", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
