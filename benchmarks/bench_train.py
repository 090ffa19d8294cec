"""Runner overhead: ``train.train_run`` against a bare ``model.fit`` on the same arrays, same model and loss.

The runner fits one epoch per call (so the shuffle order of epoch e depends only on the seed and e), and after
each epoch writes an atomic checkpoint; this measures what that costs. Prints both times and their ratio.
Usage: python benchmarks/bench_train.py [--model simple] [--epochs 10] [--train-limit 6000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time

from replicate import config, data, train


def bare_fit(cfg: config.RunConfig, x_train, x_test) -> float:
    train.seed_everything(0)
    built = train.build_and_compile(cfg, 0)  # the same model, loss, optimizer and compile options
    arrays = train.prepare(cfg, x_train, x_test, built.flat)
    start = time.perf_counter()
    built.autoencoder.fit(arrays.x_train, arrays.y_train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                          shuffle=True, validation_data=(arrays.x_test, arrays.y_test), verbose=0)
    return time.perf_counter() - start


def runner(cfg: config.RunConfig, x_train, x_test) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return train.train_run(cfg, tmp, x_train, x_test)["wall_s"]  # the training loop, as bare_fit times it


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="simple", choices=config.MODELS)
    p.add_argument("--loss", default="bce", choices=config.TRAINED_LOSSES)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-limit", type=int, default=6000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    x_train, x_test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    proto = config.profile("quick").runs()[0]
    cfg = config.RunConfig(**{**proto.to_dict(), "model": args.model, "loss": args.loss, "epochs": args.epochs,
                              "train_limit": args.train_limit,
                              "batch_size": config.tutorial.PROTOCOLS[args.model].batch_size})
    bare = min(bare_fit(cfg, x_train, x_test) for _ in range(args.repeats))
    ours = min(runner(cfg, x_train, x_test) for _ in range(args.repeats))
    print(f"{args.model}/{args.loss}, {args.epochs} epochs x {args.train_limit} images, best of {args.repeats}: "
          f"bare model.fit {bare:.2f} s, runner {ours:.2f} s, ratio {ours / bare:.3f}")


if __name__ == "__main__":
    main()
