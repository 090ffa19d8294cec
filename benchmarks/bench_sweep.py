"""Sweep throughput: one model trained with all 7 losses (one seed, quick-profile size), loss after loss against
the runner's default mode, which trains the losses side by side in one model (``train.build_fused``).

Both go through ``sweep.run_sweep`` end to end (data, builds, training, artifacts) into fresh folders,
interleaved, after a warm-up on a tiny sweep. Target: fused at least 2x faster than loss after loss. The solo
runs' own training times show where the time goes. Figures go to ``results/sweep_throughput.json`` for ``simple``
and ``results/sweep_throughput_<model>.json`` for another model.

    python benchmarks/bench_sweep.py [--model simple] [--repeats 5]
"""
from __future__ import annotations

import os
import sys
import tempfile

from common import interleaved, medians, parser, ratio, save, timed
from replicate import config, fileio, train
from replicate import sweep as sweeps

TARGET = 2.0


def sweep_of(model: str, **changes) -> config.SweepConfig:
    return config.override(config.profile("quick"), models=[model], losses=list(config.COMPARED_LOSSES), seeds=(0,),
                           **changes)


def run(sweep: config.SweepConfig, fuse: bool, per_loss: dict | None = None) -> float:
    train.clear_compiled()  # each repetition builds its models, as a sweep's first seed does
    with tempfile.TemporaryDirectory() as out:
        os.environ["KERAS_BACKEND"] = config.backend_for(sweep.models[0])  # one backend: the sweep stays here
        seconds = timed(lambda: sweeps.run_sweep(sweep, out, log=lambda line: None, fuse=fuse))
        if per_loss is not None:
            for cfg in sweep.runs():
                per_loss.setdefault(cfg.loss, []).append(fileio.read_json(f"{out}/{cfg.path}/status.json")["wall_s"])
    return seconds


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--model", default="simple", choices=[m for m in config.POST if m not in ("sparse", "vae")])
    args = p.parse_args(argv)
    sweep = sweep_of(args.model)
    tiny = sweep_of(args.model, epochs=1, train_limit=512, test_limit=64)
    per_loss: dict[str, list[float]] = {}
    times = interleaved({"loss_after_loss": lambda: run(sweep, False, per_loss), "fused": lambda: run(sweep, True)},
                        args.repeats, warmup=lambda: (run(tiny, False), run(tiny, True)))
    speedup = ratio(times, "loss_after_loss", "fused")
    m = medians(times)
    runs = sweep.runs()
    print(f"{args.model} x {len(runs)} losses, {runs[0].epochs} epochs x {runs[0].train_limit} images, seed 0, "
          f"median of {args.repeats}:")
    print(f"  loss after loss {m['loss_after_loss']:.1f} s, fused {m['fused']:.1f} s -> {speedup['of_medians']:.2f}x "
          f"(paired {speedup['paired_median']:.2f}x, {speedup['paired_min']:.2f}-{speedup['paired_max']:.2f}; "
          f"target >= {TARGET}x)")
    loss_medians = medians(per_loss)
    print("  training loop of each loss alone: " + ", ".join(f"{k} {v:.1f} s" for k, v in loss_medians.items()))
    name = "sweep_throughput" if args.model == "simple" else f"sweep_throughput_{args.model}"
    save(name, {"model": args.model, "losses": list(config.COMPARED_LOSSES), "repeats": args.repeats,
                "sweep": sweep.to_dict(), "seconds": times, "median_s": m, "fused_speedup": speedup,
                "target": TARGET, "alone_training_loop_s": per_loss, "alone_training_loop_median_s": loss_medians})
    return 0 if speedup["of_medians"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
