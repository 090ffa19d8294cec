"""Hardware utilisation: achieved FLOP/s of a training epoch of ``simple`` and ``conv`` against the machine's
measured peak float32 matrix-multiply FLOP/s.

Work per sample is counted from the layer shapes: the multiply-adds (MACs) of every Dense and Conv2D layer
(pooling, upsampling, activations and the loss are not counted); training costs 6 FLOP per MAC (2 for the
forward product, 4 for the two backward products), the usual convention. Epoch times are per-epoch wall times of
one bare ``model.fit`` (the runner's compile options, quick-profile data), first epoch dropped. Peak is the best
median over square ``keras.ops.matmul`` sizes 1024-4096 on the backend.

    python benchmarks/bench_flops.py [--models simple conv] [--repeats 5]
"""
from __future__ import annotations

import math
import statistics
import sys
import time

from bench_train import quick_config
from common import parser, save
from replicate import config, data, models, train


def layer_macs(layer) -> int:
    """Multiply-adds of one sample's forward pass through ``layer``: a Dense or Conv2D layer's product, else 0."""
    import keras

    if isinstance(layer, keras.layers.Dense):
        return math.prod(layer.input.shape[1:]) * layer.units
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, cin, cout = layer.kernel.shape
        return math.prod(layer.output.shape[1:3]) * kh * kw * cin * cout
    return 0


def macs_per_sample(model) -> int:
    """Multiply-adds of one forward pass through the Dense and Conv2D layers of ``model`` (nested models too)."""
    import keras

    return sum(macs_per_sample(layer) if isinstance(layer, keras.Model) else layer_macs(layer)
               for layer in model.layers)


def peak_matmul(repeats: int) -> dict:
    """Median seconds of float32 square matrix products on the backend, and the best FLOP/s among the sizes."""
    import numpy as np
    from keras import ops

    by_size = {}
    for n in (1024, 2048, 4096):
        a = ops.convert_to_tensor(np.random.default_rng(0).random((n, n), dtype=np.float32))
        ops.convert_to_numpy(ops.matmul(a, a))  # warm-up
        reps = max(1, int(2e10 // (2 * n**3)))  # about 20 GFLOP per timing
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(reps):
                c = ops.matmul(a, a)
            ops.convert_to_numpy(c[0, 0])  # wait for the last product
            seconds.append((time.perf_counter() - start) / reps)
        by_size[n] = 2 * n**3 / statistics.median(seconds)
    return {"flops_by_size": {str(k): round(v) for k, v in by_size.items()}, "peak_flops": round(max(by_size.values()))}


def epoch_seconds(cfg: config.RunConfig, x_train, x_test, epochs: int) -> list[float]:
    """Per-epoch wall times of one bare fit (training only: no validation), the first epoch dropped."""
    import keras

    built = train.build_and_compile(cfg, train.run_seed(cfg))
    arrays = train.prepare(cfg, x_train, x_test, built.flat)
    stamps = []
    clock = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: stamps.append(time.perf_counter()),
                                           on_epoch_end=lambda e, logs: stamps.append(time.perf_counter()))
    built.logits.fit(arrays.x_train, arrays.y_train, epochs=epochs + 1, batch_size=cfg.batch_size,
                          shuffle=True, verbose=0, callbacks=[clock])
    return [stamps[2 * i + 1] - stamps[2 * i] for i in range(1, epochs + 1)]


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--models", nargs="+", default=["simple", "conv"], choices=config.MODELS)
    args = p.parse_args(argv)
    peak = peak_matmul(args.repeats)
    print(f"peak float32 matmul: {peak['peak_flops'] / 1e9:.1f} GFLOP/s "
          f"({', '.join(f'{k}: {v / 1e9:.1f}' for k, v in peak['flops_by_size'].items())})")
    x_train, x_test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    figures = {"peak": peak, "repeats": args.repeats, "models": {}}
    for model in args.models:
        cfg = quick_config(model)
        macs = macs_per_sample(models.build(model).autoencoder)
        seconds = epoch_seconds(cfg, x_train, x_test, args.repeats)
        n = min(cfg.train_limit, len(x_train))
        achieved = 6 * macs * n / statistics.median(seconds)
        figures["models"][model] = {"macs_per_sample": macs, "train_flops_per_sample": 6 * macs, "images": n,
                                    "batch_size": cfg.batch_size, "epoch_s": seconds,
                                    "achieved_flops": round(achieved), "share_of_peak": achieved / peak["peak_flops"]}
        print(f"{model}: {macs:,} MACs/sample, epoch of {n} images {statistics.median(seconds):.3f} s (median of "
              f"{args.repeats}) -> {achieved / 1e9:.2f} GFLOP/s = {100 * achieved / peak['peak_flops']:.1f} % of peak")
    save("flops", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
