"""Runner speed: the runner's training loop against the fastest bare ``model.fit`` on this machine, per model.

A process holds one Keras backend, so every contender runs in a process of its own, started in turn (A B C A B C
...) after a warm-up. Each warms its process up with an untimed fit of another model, then times the training of a
fresh model, so start-up is not counted and the timed model's compilation is, for every contender alike (a run
of the runner always trains a model of its own):

- ``bare_tensorflow``, ``bare_jax``: ``model.fit`` of the model's logits with the runner's compile options on the
  same arrays, epochs and batch size, under each backend;
- ``runner``: ``train.train_one`` on the backend the runner picks for the model (``--backend auto``), with its
  seeded epoch order, a checkpoint, the saturation probe and the convergence check after every epoch.

Target: runner / fastest bare <= 1.3 for every model, with the quick profile's sizes and ``bce``.

    python benchmarks/bench_train.py [--models simple conv] [--repeats 3]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import interleaved, medians, parser, ratio, save

TARGET = 1.3
HERE = Path(__file__).resolve().parent
MODELS = ("simple", "sparse", "deep", "conv", "denoising", "vae")


def quick_config(model: str, loss: str = "bce", backend: str = "tensorflow"):
    """The quick profile's run of ``model``: its epochs and training subset, 1000 test images."""
    from replicate import config

    quick = config.profile("quick")
    return config.protocol_run(model, dataset="fashion_mnist", loss=loss, seed=0, epochs=quick.epochs[model],
                               train_limit=quick.train_limit[model], test_limit=quick.test_limit, backend=backend)


def worker(model: str, contender: str, backend: str) -> float:
    """Seconds of one timed training loop (after an untimed warm-up), in this process on ``backend``."""
    from replicate import data, train

    cfg = quick_config(model, backend=backend)
    x_train, x_test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    if contender == "runner":
        warm = type(cfg)(**{**cfg.to_dict(), "epochs": 1, "train_limit": 1024})
        with tempfile.TemporaryDirectory() as tmp:
            train.train_one(warm, Path(tmp) / "warm", x_train, x_test)
            return train.train_one(cfg, Path(tmp) / "run", x_train, x_test)["wall_s"]
    warm = train.build_and_compile(cfg, train.run_seed(cfg))
    arrays = train.prepare(cfg, x_train, x_test, warm.flat)
    warm.logits.fit(arrays.x_train[:1024], arrays.y_train[:1024], epochs=1, batch_size=cfg.batch_size, verbose=0)
    built = train.build_and_compile(cfg, train.run_seed(cfg))  # a model of its own, compiled in its fit, as a run's
    start = time.perf_counter()
    built.logits.fit(arrays.x_train, arrays.y_train, epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True,
                     validation_data=(arrays.x_test, arrays.y_test), verbose=0)
    return time.perf_counter() - start


def _in_process(model: str, contender: str, backend: str) -> float:
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, __file__, "--worker", model, contender, backend], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps({"seconds": worker(*sys.argv[2:5])}))
        return 0
    p = parser(__doc__, repeats=3)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = p.parse_args(argv)
    from replicate import config

    figures, ok = {}, True
    for model in args.models:
        auto = config.backend_for(model)
        contenders = {f"bare_{b}": (lambda b=b: _in_process(model, "bare", b)) for b in config.BACKENDS}
        contenders["runner"] = lambda: _in_process(model, "runner", auto)
        times = interleaved(contenders, args.repeats)
        m = medians(times)
        fastest = min(config.BACKENDS, key=lambda b: m[f"bare_{b}"])
        r = ratio(times, "runner", f"bare_{fastest}")
        ok &= r["of_medians"] <= TARGET
        cfg = quick_config(model)
        figures[model] = {"config": cfg.to_dict(), "runner_backend": auto, "fastest_bare": fastest,
                          "repeats": args.repeats, "seconds": times, "median_s": m,
                          "runner_over_fastest_bare": r, "target": TARGET}
        print(f"{model}/bce, {cfg.epochs} epochs x {cfg.train_limit} images, median of {args.repeats}: bare TF "
              f"{m['bare_tensorflow']:.2f} s, bare JAX {m['bare_jax']:.2f} s, runner ({auto}) {m['runner']:.2f} s "
              f"-> runner / fastest bare ({fastest}) {r['of_medians']:.3f} (paired {r['paired_median']:.3f}, "
              f"{r['paired_min']:.3f}-{r['paired_max']:.3f}; target <= {TARGET})", flush=True)
    save("runner_speed", figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
