"""Training: one run (model x loss x seed) and a sweep of runs, with checkpoints, resume and artifacts on disk.

A run trains epoch by epoch on in-memory arrays; after each epoch its weights, optimizer state and history are
checkpointed atomically, so an interrupted run loses at most the epoch in progress and resumes bit-identically
(the shuffle order of epoch e is a function of the run's seed and e alone). Finished runs are never redone.
Metrics and the report are computed elsewhere, from the files written here.
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from replicate import data, fileio, provenance
from replicate.config import RunConfig, SweepConfig

_DETERMINISM_ON = False


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the backend, and make TensorFlow's ops deterministic (once per process)."""
    global _DETERMINISM_ON
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow" and not _DETERMINISM_ON:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.get_logger().setLevel("ERROR")  # each run builds new tf.functions; the retracing notice is expected
        _DETERMINISM_ON = True


def run_seed(cfg: RunConfig) -> int:
    """The seed of a run, derived from its seed index, dataset and model but not its loss, so that every loss
    of one model and seed starts from the same weights and sees the same batches (a paired design)."""
    digest = hashlib.sha256(f"{cfg.seed}/{cfg.dataset}/{cfg.model}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


@dataclass(frozen=True)
class Arrays:
    """Inputs and targets of one run, in the layout its model expects."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def prepare(cfg: RunConfig, train: np.ndarray, test: np.ndarray, flat: bool) -> Arrays:
    """Cut the subsets, reshape for dense or convolutional models, and noise the denoiser's inputs."""
    train = train[: cfg.train_limit]
    test = test[: cfg.test_limit]
    shape = (-1, 784) if flat else (-1, 28, 28, 1)
    y_train, y_test = train.reshape(shape), test.reshape(shape)
    if cfg.noise_factor is None:
        return Arrays(y_train, y_train, y_test, y_test)
    noise_seed = cfg.seed * 2 + 1  # the same noisy images for every loss of a seed
    return Arrays(data.add_noise(y_train, cfg.noise_factor, seed=noise_seed), y_train,
                  data.add_noise(y_test, cfg.noise_factor, seed=noise_seed + 10**6), y_test)


#: Training steps run per call into the backend. The updates are the same as one step per call; grouping
#: them removes per-step dispatch cost, which dominates for the tutorial's small models on a CPU.
STEPS_PER_EXECUTION = 32


def build_and_compile(cfg: RunConfig, seed: int):
    """The run's model, built under its precision policy and compiled with its loss and optimizer."""
    import keras

    from replicate import losses, models

    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.mixed_precision else "float32")
    try:
        built = models.build(cfg.model, seed=seed)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    optimizer = (keras.optimizers.Adam(cfg.learning_rate) if cfg.optimizer == "adam"
                 else keras.optimizers.Adadelta(cfg.learning_rate))
    built.autoencoder.compile(optimizer=optimizer, steps_per_execution=STEPS_PER_EXECUTION,
                              loss=losses.ReconstructionLoss(cfg.loss, models.LOSS_SCALE.get(cfg.model, 1.0)))
    return built


def train_run(cfg: RunConfig, run_dir: str | os.PathLike, train: np.ndarray, test: np.ndarray,
              on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train one run into ``run_dir`` (resuming from its checkpoint) and return its ``status.json`` content.

    ``train`` and ``test`` are float32 images (N, 28, 28) in [0, 1]; the config's subsets are cut here.
    """
    import keras
    from keras import ops

    from replicate import losses, models

    run_dir = Path(run_dir)
    loss = losses.get(cfg.loss)
    loss.check_targets(train[: cfg.train_limit], "training targets")
    seed = run_seed(cfg)
    seed_everything(seed)
    built = build_and_compile(cfg, seed)
    model = built.autoencoder
    arrays = prepare(cfg, train, test, built.flat)
    fileio.write_json(run_dir / "config.json", cfg.to_dict())

    history, start = _restore(model, run_dir)
    started = time.perf_counter()
    failure = None
    # Backend tensors, made once: each epoch then gathers its shuffled order on the backend instead of copying
    # and converting numpy arrays again, which keeps the cost of an epoch that of a bare model.fit.
    x_train, x_test = ops.convert_to_tensor(arrays.x_train), ops.convert_to_tensor(arrays.x_test)
    same = arrays.y_train is arrays.x_train
    y_train = x_train if same else ops.convert_to_tensor(arrays.y_train)
    y_test = x_test if arrays.y_test is arrays.x_test else ops.convert_to_tensor(arrays.y_test)
    n = len(arrays.x_train)
    for epoch in range(start, cfg.epochs):
        order = np.random.default_rng([seed, epoch]).permutation(n) if cfg.shuffle else np.arange(n)
        x_epoch = ops.take(x_train, order, axis=0)
        y_epoch = x_epoch if same else ops.take(y_train, order, axis=0)
        logs = model.fit(x_epoch, y_epoch, batch_size=cfg.batch_size, epochs=1, shuffle=False,
                         validation_data=(x_test, y_test), verbose=0,
                         callbacks=[keras.callbacks.TerminateOnNaN()]).history
        row = {"epoch": epoch + 1, "loss": float(logs["loss"][-1]), "val_loss": float(logs["val_loss"][-1])}
        if not (math.isfinite(row["loss"]) and math.isfinite(row["val_loss"])):
            failure = f"loss became non-finite (loss={row['loss']}, val_loss={row['val_loss']}) in epoch {epoch + 1}"
            break
        for key in ("epoch", "loss", "val_loss"):
            history[key].append(row[key])
        _checkpoint(model, run_dir, history)
        if on_epoch:
            on_epoch(epoch + 1, row)
    wall = time.perf_counter() - started
    status = {"status": "failed" if failure else "done", "reason": failure, "epoch": len(history["epoch"]),
              "wall_s": round(wall, 3), "device": provenance.device(),
              "final_loss": history["loss"][-1] if history["loss"] else None,
              "final_val_loss": history["val_loss"][-1] if history["val_loss"] else None}
    fileio.write_json(run_dir / "history.json", history)
    if failure is None:
        recon = loss.reconstruction(np.asarray(models.reconstruct(built, arrays.x_test), dtype=np.float32))
        fileio.write_npz(run_dir / "reconstructions.npz", recon=recon.reshape(-1, 28, 28).astype(np.float16))
        fileio.atomic_write(run_dir / "model.keras", model.save, suffix=".keras")
    fileio.write_json(run_dir / "status.json", status)  # after the artifacts: "done" means they are all there
    if failure is None:
        _clear_checkpoint(run_dir)
    return status


def _restore(model, run_dir: Path) -> tuple[dict, int]:
    """Load the last checkpoint into ``model``; return the history so far and the next epoch index."""
    ckpt = run_dir / "checkpoint.json"
    if not ckpt.exists():
        return {"epoch": [], "loss": [], "val_loss": []}, 0
    state = fileio.read_json(ckpt)
    model.optimizer.build(model.trainable_variables)
    model.load_weights(run_dir / state["weights"])
    for generator, value in zip(_seed_generators(model), state.get("seed_states", [])):
        generator.state.assign(np.asarray(value, dtype=generator.state.dtype))
    return state["history"], len(state["history"]["epoch"])


def _seed_generators(model) -> list:
    """The random-number generators inside a model (the VAE's sampling noise), whose state the weights omit."""
    found, layers = [], list(model.layers)
    while layers:
        layer = layers.pop(0)
        found += getattr(layer, "_seed_generators", [])
        layers += getattr(layer, "layers", [])
    return found


def _checkpoint(model, run_dir: Path, history: dict) -> None:
    """Weights + optimizer state under an epoch-numbered name, then the JSON that points at them."""
    name = f"checkpoint-e{len(history['epoch'])}.weights.h5"
    fileio.atomic_write(run_dir / name, model.save_weights, suffix=".weights.h5")
    from keras import ops

    seed_states = [ops.convert_to_numpy(g.state.value).tolist() for g in _seed_generators(model)]
    fileio.write_json(run_dir / "checkpoint.json", {"weights": name, "history": history, "seed_states": seed_states})
    for old in run_dir.glob("checkpoint-e*.weights.h5"):
        if old.name != name:
            old.unlink()


def _clear_checkpoint(run_dir: Path) -> None:
    for path in [run_dir / "checkpoint.json", *run_dir.glob("checkpoint-e*.weights.h5")]:
        path.unlink(missing_ok=True)


def run_status(run_dir: Path) -> str:
    """'done', 'failed' or 'pending' (never started or interrupted)."""
    path = run_dir / "status.json"
    return fileio.read_json(path)["status"] if path.exists() else "pending"


def write_sweep(out: Path, sweep: SweepConfig) -> None:
    """The sweep index: its config and every run's path and status."""
    runs = [{"dataset": r.dataset, "model": r.model, "loss": r.loss, "seed": r.seed, "path": r.path,
             "status": run_status(out / r.path)} for r in sweep.runs()]
    fileio.write_json(out / "sweep.json", {"config": sweep.to_dict(), "runs": runs})


def run_sweep(sweep: SweepConfig, out: str | os.PathLike, *, data_dir=None, argv: list[str] | None = None,
              log: Callable[[str], None] = print) -> int:
    """Train every run of ``sweep`` under ``out`` (skipping finished ones); return how many failed."""
    out = Path(out)
    if (out / "sweep.json").exists() and fileio.read_json(out / "sweep.json")["config"] != sweep.to_dict():
        raise ValueError(f"{out} holds a sweep made with other settings; resuming it would mix protocols. Rerun "
                         "with the same options, or pass another --out (or delete the folder) to start afresh.")
    out.mkdir(parents=True, exist_ok=True)
    started_at = provenance.now()
    train_u8, train_src = data.load_uint8(sweep.dataset, "train", data_dir=data_dir)
    test_u8, test_src = data.load_uint8(sweep.dataset, "test", data_dir=data_dir)
    train, test = data.to_unit(train_u8), data.to_unit(test_u8)
    index = np.arange(len(test_u8))[: sweep.test_limit]
    fileio.write_npz(out / sweep.dataset / "targets.npz", images=test_u8[index], index=index)
    prov = provenance.collect(argv)
    prov["data"] = {"train": train_src.to_dict(), "test": test_src.to_dict()}
    for src in prov["data"].values():  # keep the tree free of absolute paths
        src["path"] = Path(src["path"]).name
    prov["started"] = started_at
    fileio.write_json(out / "provenance.json", prov)
    write_sweep(out, sweep)

    runs = sweep.runs()
    todo = [r for r in runs if run_status(out / r.path) != "done"]
    log(f"sweep {sweep.profile}: {len(runs)} runs ({len(runs) - len(todo)} already done) on {sweep.dataset}, "
        f"device {prov['device']}")
    failed, spent = 0, []
    for i, cfg in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {cfg.model}/{cfg.loss} seed {cfg.seed}"
        eta = _eta(spent, len(todo) - i + 1)

        def on_epoch(epoch, row, label=label, eta=eta):
            if sys.stdout.isatty():
                print(f"\r{label} epoch {epoch}/{cfg.epochs} loss {row['loss']:.4f} val {row['val_loss']:.4f}"
                      f" | sweep ETA {eta}", end="", flush=True)

        t0 = time.perf_counter()
        if run_status(out / cfg.path) == "failed":
            clean_run(out / cfg.path)  # a failed run is redone from scratch
        try:
            status = train_run(cfg, out / cfg.path, train, test, on_epoch)
        except KeyboardInterrupt:
            write_sweep(out, sweep)
            raise
        except Exception as err:  # one broken run must not end the sweep; it is recorded and the rest go on
            status = {"status": "failed", "reason": f"{type(err).__name__}: {err}", "epoch": None}
            fileio.write_json(out / cfg.path / "status.json", status)
        spent.append(time.perf_counter() - t0)
        failed += status["status"] == "failed"
        tail = (f"loss {status['final_loss']:.4f} val {status['final_val_loss']:.4f}"
                if status["status"] == "done" else f"FAILED: {status['reason']}")
        if sys.stdout.isatty():
            print("\r", end="")
        log(f"{label} epoch {status.get('epoch')}/{cfg.epochs} {tail} ({spent[-1]:.1f}s) "
            f"| sweep ETA {_eta(spent, len(todo) - i)}")
        write_sweep(out, sweep)
    prov["finished"] = provenance.now()
    fileio.write_json(out / "provenance.json", prov)
    return failed


def _eta(spent: list[float], remaining: int) -> str:
    if not spent:
        return "estimating"
    seconds = int(np.mean(spent) * remaining)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def clean_run(run_dir: Path) -> None:
    """Remove a run's directory (used to redo a failed run from scratch)."""
    shutil.rmtree(run_dir, ignore_errors=True)
