"""A TensorFlow epoch's fixed cost: the runner's pipelines against Keras' own, interleaved after a warm-up. Keras'
own are what the runner used before: its pipeline for the validation arrays (whose iterator instantiates its
functions again at every evaluation) and ``fit`` without ``steps_per_epoch`` (a second training iterator made, and
thrown away, as each epoch ends). The results are the same bits either way. Two sizes, each a side-by-side group:
the tests' (``simple``, BCE + Huber, 40 epochs of 2 batches of 256 synthetic images, 64 validation images) and the
quick profile's ``denoising`` (BCE + MSE, 4 epochs x 4,000 Fashion-MNIST images, 1,000 validation images).

    python benchmarks/bench_epoch.py [--repeats 5]
"""
from __future__ import annotations

import contextlib
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

from common import interleaved, medians, parser, ratio, runner_epochs, save  # noqa: E402
from replicate import config, data, train  # noqa: E402


@contextlib.contextmanager
def keras_pipelines():
    """Train with Keras' own pipelines: validation arrays given to ``fit`` as such, and no ``steps_per_epoch``."""
    import keras

    fit, feed = keras.Model.fit, train.validation_feed

    def fit_without_steps(self, *args, **kwargs):
        kwargs.pop("steps_per_epoch", None)
        return fit(self, *args, **kwargs)

    keras.Model.fit = fit_without_steps
    train.validation_feed = lambda arrays, outputs, backend=None: feed(arrays, outputs, backend="jax")  # the arrays
    try:
        yield
    finally:
        keras.Model.fit, train.validation_feed = fit, feed


def group(model: str, losses: list[str], dataset: str, **limits):
    sweep = config.override(config.profile("smoke" if dataset == "synthetic" else "quick"), models=[model],
                            losses=losses, seeds=(0,), backend="tensorflow", **limits)
    return sweep, sweep.runs(), data.load(dataset, "train"), data.load(dataset, "test")


def main(argv=None) -> int:
    args = parser(__doc__).parse_args(argv)
    sizes = {"tests": group("simple", ["bce", "huber"], "synthetic", epochs=40, train_limit=512),
             "quick_denoising": group("denoising", ["bce", "mse"], "fashion_mnist")}
    figures = {}
    for size, (sweep, cfgs, x_train, x_test) in sizes.items():
        def timed(keras_own: bool, cfgs=cfgs, x_train=x_train, x_test=x_test) -> float:
            with keras_pipelines() if keras_own else contextlib.nullcontext():
                marks = runner_epochs(cfgs, x_train, x_test)
            return marks[-1] - marks[0]

        times = interleaved({"keras_own": lambda: timed(True), "runner": lambda: timed(False)}, args.repeats,
                            warmup=lambda: timed(False))
        speedup = ratio(times, "keras_own", "runner")
        m = medians(times)
        print(f"{size}: {cfgs[0].model}, {' + '.join(c.loss for c in cfgs)} side by side, {cfgs[0].epochs} epochs, "
              f"median of {args.repeats}: Keras' pipelines {m['keras_own']:.2f} s, the runner's {m['runner']:.2f} s "
              f"-> {speedup['of_medians']:.2f}x (paired {speedup['paired_median']:.2f}x, "
              f"{speedup['paired_min']:.2f}-{speedup['paired_max']:.2f})")
        figures[size] = {"sweep": sweep.to_dict(), "seconds": times, "median_s": m, "speedup": speedup,
                         "per_epoch_saved_ms": round((m["keras_own"] - m["runner"]) / cfgs[0].epochs * 1e3, 1)}
    save("tf_epoch", {"repeats": args.repeats, **figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
