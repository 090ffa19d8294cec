"""Runner overhead: ``train.train_one`` against a bare ``model.fit`` of the same model, loss, data, batch size and
epochs, and against the tutorial's own script.

Three contenders per model, interleaved, after a warm-up:

- ``tutorial``: the post's script, compiled as the post compiles it (Keras defaults: one step per backend call),
  then ``fit(x, x, epochs, batch_size, shuffle=True, validation_data=...)``;
- ``bare``: the same ``fit``, compiled with the runner's options (``steps_per_execution``);
- ``runner``: ``train_run``, which adds its deterministic epoch order, a checkpoint after every epoch, and at the
  end the reconstructions and the saved model.

Each contender reports its training loop (``fit`` and, for the runner, its checkpoints) and its end-to-end time
(model build and compile included; the runner's artifacts too). The target is runner loop / bare loop <= 1.03.

    python benchmarks/bench_train.py [--models simple conv] [--repeats 5]
"""
from __future__ import annotations

import sys
import tempfile
import time

from common import interleaved, parser, ratio, medians, save
from replicate import config, data, train

TARGET = 1.03


def quick_config(model: str, loss: str = "bce") -> config.RunConfig:
    """The quick profile's run of ``model``: its epochs and training subset, 1000 test images."""
    quick = config.profile("quick")
    return config.protocol_run(model, dataset="fashion_mnist", loss=loss, seed=0, epochs=quick.epochs[model],
                               train_limit=quick.train_limit[model], test_limit=quick.test_limit)


def contenders(cfg: config.RunConfig, x_train, x_test) -> dict:
    """name -> function returning (training-loop seconds, end-to-end seconds)."""
    import keras

    def bare(tutorial_compile: bool):
        start = time.perf_counter()
        built = train.build_and_compile(cfg, train.run_seed(cfg))  # seeds everything, as the runner does
        model = built.autoencoder
        if tutorial_compile:  # the post's compile call: optimizer and loss only, everything else Keras' default
            model.compile(optimizer=cfg.optimizer, loss=model.loss)
        arrays = train.prepare(cfg, x_train, x_test, built.flat)
        fit_start = time.perf_counter()
        model.fit(arrays.x_train, arrays.y_train, epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True,
                  validation_data=(arrays.x_test, arrays.y_test), verbose=0)
        end = time.perf_counter()
        keras.backend.clear_session()
        return end - fit_start, end - start

    def runner():
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            status = train.train_one(cfg, tmp, x_train, x_test)
            end = time.perf_counter()
        keras.backend.clear_session()
        return status["wall_s"], end - start

    return {"tutorial": lambda: bare(True), "bare": lambda: bare(False), "runner": runner}


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--models", nargs="+", default=["simple", "conv"], choices=config.MODELS)
    args = p.parse_args(argv)
    x_train, x_test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    figures, ok = {}, True
    for model in args.models:
        cfg = quick_config(model)
        runs = contenders(cfg, x_train, x_test)
        smoke = config.RunConfig(**{**cfg.to_dict(), "epochs": 1, "train_limit": 512})
        ends = {}

        def loop_of(name):  # time the loop for the comparison, keep the end-to-end time beside it
            def run():
                loop, end = runs[name]()
                ends.setdefault(name, []).append(end)
                return loop
            return run

        loops = interleaved({name: loop_of(name) for name in runs}, args.repeats,
                            warmup=lambda: [fn() for fn in contenders(smoke, x_train, x_test).values()])
        fig = {"config": cfg.to_dict(), "repeats": args.repeats, "loop_s": loops, "end_to_end_s": ends,
               "loop_median_s": medians(loops), "end_to_end_median_s": medians(ends),
               "runner_over_bare_loop": ratio(loops, "runner", "bare"),
               "runner_over_bare_end_to_end": ratio(ends, "runner", "bare"),
               "tutorial_over_runner_end_to_end": ratio(ends, "tutorial", "runner"), "target": TARGET}
        figures[model] = fig
        r = fig["runner_over_bare_loop"]
        ok &= r["of_medians"] <= TARGET
        m, e = fig["loop_median_s"], fig["end_to_end_median_s"]
        print(f"{model}/bce, {cfg.epochs} epochs x {cfg.train_limit} images, median of {args.repeats}:")
        print(f"  training loop: bare fit {m['bare']:.2f} s, runner {m['runner']:.2f} s -> ratio "
              f"{r['of_medians']:.3f} (paired {r['paired_median']:.3f}, {r['paired_min']:.3f}-{r['paired_max']:.3f}; "
              f"target <= {TARGET})")
        print(f"  end to end:    bare {e['bare']:.2f} s, runner {e['runner']:.2f} s "
              f"(ratio {fig['runner_over_bare_end_to_end']['of_medians']:.3f}); the tutorial's own script "
              f"{e['tutorial']:.2f} s ({fig['tutorial_over_runner_end_to_end']['of_medians']:.2f}x the runner)")
    save("runner_overhead", figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
