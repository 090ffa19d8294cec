"""The post's full protocol on this CPU: one epoch of every model at the post's batch size on all 60,000 Fashion-MNIST
training images, BCE and MSE (side by side where the runner trains them so), on the backend the runner picks, and
the projection to the post's epochs, set beside the arithmetic limit at the measured peak matrix-multiply rate.

Each model runs in its own process (one backend per process): an untimed warm-up epoch, then ``--repeats`` timed
epochs; the median is projected. Work is counted as in ``bench_flops.py`` (6 FLOP per multiply-add of the Dense and
Conv2D layers). Target: the projected protocol (BCE + MSE, one seed, the post's epochs) <= 60 minutes.

    python benchmarks/bench_protocol.py [--repeats 2]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import parser, save

TARGET_MINUTES = 60
MODELS = ("simple", "sparse", "deep", "conv", "denoising", "vae")


def worker(model: str, repeats: int) -> dict:
    """Epoch seconds of BCE and MSE on ``model`` at the post's protocol, in this process's backend."""
    import keras

    from bench_flops import macs_per_sample, peak_matmul
    from replicate import config, data, models, train

    cfgs = [config.protocol_run(model, dataset="fashion_mnist", loss=loss, seed=0,
                                backend=keras.backend.backend()) for loss in ("bce", "mse")]
    x_train, x_test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    groups = [cfgs] if train.fusable(cfgs[0]) else [[c] for c in cfgs]
    seconds = []
    for group in groups:
        builts, model_ = train.build_fused(group, train.run_seed(group[0]))
        arrays = train.prepare(group[0], x_train, x_test, builts[0].flat)
        y = arrays.y_train if len(group) == 1 else [arrays.y_train] * len(group)
        stamps = []
        clock = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: stamps.append(time.perf_counter()),
                                               on_epoch_end=lambda e, logs: stamps.append(time.perf_counter()))
        model_.fit(arrays.x_train, y, epochs=repeats + 1, batch_size=group[0].batch_size, shuffle=True, verbose=0,
                   callbacks=[clock])
        epochs = [stamps[2 * i + 1] - stamps[2 * i] for i in range(1, repeats + 1)]
        seconds.append(statistics.median(epochs))
    macs = macs_per_sample(models.build(model).autoencoder)
    return {"backend": keras.backend.backend(), "epoch_s": sum(seconds), "groups": len(groups),
            "post_epochs": cfgs[0].epochs, "batch_size": cfgs[0].batch_size, "images": len(x_train),
            "train_flops_per_epoch": 6 * macs * len(x_train) * 2, "peak": peak_matmul(3)["peak_flops"]}


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]))))
        return 0
    p = parser(__doc__, repeats=2)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = p.parse_args(argv)
    from replicate import config

    rows, total_s, total_flops, peak = {}, 0.0, 0, 0
    for model in args.models:
        env = {**os.environ, "KERAS_BACKEND": config.backend_for(model)}
        done = subprocess.run([sys.executable, __file__, "--worker", model, str(args.repeats)], env=env,
                              capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["projected_s"] = row["epoch_s"] * row["post_epochs"]
        row["achieved_flops"] = row["train_flops_per_epoch"] / row["epoch_s"]
        rows[model] = row
        total_s += row["projected_s"]
        total_flops += row["train_flops_per_epoch"] * row["post_epochs"]
        peak = max(peak, row["peak"])
        print(f"{model} ({row['backend']}): epoch of BCE + MSE on {row['images']:,} images at batch "
              f"{row['batch_size']}: {row['epoch_s']:.1f} s -> x {row['post_epochs']} epochs = "
              f"{row['projected_s'] / 60:.1f} min; {row['achieved_flops'] / 1e9:.0f} GFLOP/s", flush=True)
    limit_s = total_flops / peak
    print(f"projected full protocol (BCE + MSE, one seed): {total_s / 60:.0f} min; arithmetic limit at the measured "
          f"peak {peak / 1e9:.0f} GFLOP/s: {limit_s / 60:.0f} min ({total_flops:.2e} FLOP); target <= "
          f"{TARGET_MINUTES} min")
    save("full_protocol", {"models": rows, "projected_min": total_s / 60, "limit_min": limit_s / 60,
                           "total_flops": total_flops, "peak_flops": peak, "repeats": args.repeats,
                           "target_min": TARGET_MINUTES})
    return 0 if total_s / 60 <= TARGET_MINUTES else 1


if __name__ == "__main__":
    sys.exit(main())
