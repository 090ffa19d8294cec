"""The TensorFlow feed with and without tf.data's autotuning: the runner trains ``conv`` with BCE and MSE side by side
(quick-profile size, 4 epochs x 6,000 images, seed 0), its feed as it is (autotuning off) against the same feed with
autotuning switched back on, interleaved after a warm-up. Each contender reports its epochs' seconds and the share
of the machine's CPU time that stayed idle in each: an epoch run on one core of two shows about 50 %.

    python benchmarks/bench_feed.py [--repeats 5]
"""
from __future__ import annotations

import os
import sys
import time

os.environ["KERAS_BACKEND"] = "tensorflow"

from common import interleaved, medians, parser, ratio, runner_epochs, save  # noqa: E402
from replicate import config, data, train  # noqa: E402


def cpu_times() -> list[int]:
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:]]


def run(autotune: bool, cfgs, x_train, x_test, log: list) -> float:
    """Seconds of one training of ``cfgs`` by the runner, its feed's autotuning as given; appends its epochs'
    seconds and idle CPU shares to ``log``."""
    import tensorflow as tf

    feed = train.epoch_feed

    def switched(*args, **kwargs):
        dataset, set_epoch = feed(*args, **kwargs)
        options = tf.data.Options()
        options.autotune.enabled = autotune
        return dataset.with_options(options), set_epoch

    train.epoch_feed = switched
    try:
        marks = runner_epochs(cfgs, x_train, x_test, lambda: (time.perf_counter(), cpu_times()))
    finally:
        train.epoch_feed = feed
    epochs = []
    for (t0, c0), (t1, c1) in zip(marks, marks[1:]):
        delta = [b - a for a, b in zip(c0, c1)]
        epochs.append({"s": round(t1 - t0, 3), "idle": round(delta[3] / max(sum(delta), 1), 3)})
    log.append(epochs)
    return marks[-1][0] - marks[0][0]


def main(argv=None) -> int:
    args = parser(__doc__).parse_args(argv)
    sweep = config.override(config.profile("quick"), models=["conv"], losses=["bce", "mse"], seeds=(0,),
                            backend="tensorflow")
    cfgs = sweep.runs()
    x_train, x_test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    log: dict[str, list] = {"autotune_on": [], "autotune_off": []}
    times = interleaved({"autotune_on": lambda: run(True, cfgs, x_train, x_test, log["autotune_on"]),
                         "autotune_off": lambda: run(False, cfgs, x_train, x_test, log["autotune_off"])},
                        args.repeats, warmup=lambda: run(False, cfgs, x_train, x_test, []))
    speedup = ratio(times, "autotune_on", "autotune_off")
    slow = {k: sum(e["idle"] > 0.3 for run_ in v for e in run_[1:-1]) for k, v in log.items()}
    middle = {k: sum(len(run_) - 2 for run_ in v) for k, v in log.items()}
    m = medians(times)
    print(f"conv, BCE + MSE side by side, {cfgs[0].epochs} epochs x {cfgs[0].train_limit} images, median of "
          f"{args.repeats}: autotuning on {m['autotune_on']:.1f} s, off {m['autotune_off']:.1f} s -> "
          f"{speedup['of_medians']:.2f}x (paired {speedup['paired_median']:.2f}x, "
          f"{speedup['paired_min']:.2f}-{speedup['paired_max']:.2f})")
    print("  middle epochs (neither compiling nor writing artifacts) with > 30 % of the CPU idle: "
          + ", ".join(f"{k} {slow[k]} of {middle[k]}" for k in slow))
    save("tf_feed", {"sweep": sweep.to_dict(), "repeats": args.repeats, "seconds": times, "median_s": m,
                     "off_speedup": speedup, "epochs": log, "idle_middle_epochs": slow,
                     "middle_epochs": middle})
    return 0


if __name__ == "__main__":
    sys.exit(main())
