"""The post's full protocol on this CPU: one epoch of every model at the post's batch size on all 60,000 Fashion-MNIST
training images, BCE and MSE (side by side where the runner trains them so), trained by the runner on the backend it
picks, and the projection to the post's epochs, set beside the arithmetic limit at the measured peak matmul rate.

Each model runs in its own process (one backend per process): the runner trains ``--repeats`` + 2 epochs; the first
(compiling) and the last (writing the run's artifacts) are not timed, the median of the others is projected. An
epoch is timed as a real run spends it, with its validation on the 10,000 test images, checkpoint and saturation
probe. Work is counted as in ``bench_flops.py`` (6 FLOP per multiply-add of the Dense and Conv2D layers).
Target: the projected protocol (BCE + MSE, one seed, the post's epochs) <= 60 minutes.

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

from common import parser, runner_epochs, save

TARGET_MINUTES = 60
MODELS = ("simple", "sparse", "deep", "conv", "denoising", "vae")


def worker(model: str, repeats: int) -> dict:
    """Epoch seconds of BCE and MSE on ``model`` at the post's protocol, trained by the runner
    (``train.train_side_by_side``, with its per-epoch validation, checkpoint and probe) in this process's backend."""
    import keras

    from bench_flops import macs_per_sample, peak_matmul
    from replicate import config, data, models, train

    cfgs = [config.protocol_run(model, dataset="fashion_mnist", loss=loss, seed=0, epochs=repeats + 2,
                                backend=keras.backend.backend()) for loss in ("bce", "mse")]
    x_train, x_test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    groups = [cfgs] if train.fusable(cfgs[0]) else [[c] for c in cfgs]
    seconds = []
    for group in groups:
        stamps = runner_epochs(group, x_train, x_test)
        epochs = [b - a for a, b in zip(stamps[1:-2], stamps[2:-1])]  # not the first (compiling) nor the last
        seconds.append(statistics.median(epochs))
    macs = macs_per_sample(models.build(model).autoencoder)
    return {"backend": keras.backend.backend(), "epoch_s": sum(seconds), "groups": len(groups),
            "post_epochs": config.protocol_run(model, dataset="fashion_mnist", loss="bce", seed=0).epochs,
            "batch_size": cfgs[0].batch_size, "images": len(x_train),
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
        figures = {"models": rows, "projected_min": total_s / 60, "limit_min": limit_s / 60, "total_flops": total_flops,
                   "peak_flops": peak, "repeats": args.repeats, "target_min": TARGET_MINUTES}
        # After every model, beside the figures of a finished run, so that a run cut short keeps what it measured.
        partial = save("full_protocol_partial", figures)
    save("full_protocol", figures)
    partial.unlink()
    print(f"projected full protocol (BCE + MSE, one seed): {total_s / 60:.0f} min; arithmetic limit at the measured "
          f"peak {peak / 1e9:.0f} GFLOP/s: {limit_s / 60:.0f} min ({total_flops:.2e} FLOP); target <= "
          f"{TARGET_MINUTES} min")
    return 0 if total_s / 60 <= TARGET_MINUTES else 1


if __name__ == "__main__":
    sys.exit(main())
