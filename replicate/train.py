"""Training: one run (model x loss x seed), or the losses of one model and seed side by side, with checkpoints,
resume and the run's artifacts on disk.

A run trains in one ``fit`` call on in-memory arrays; after each epoch its variables and history are checkpointed
atomically, so an interrupted run loses at most the epoch in progress and resumes bit-identically (the order of
epoch e is a function of the run's seed and e alone). The losses of one model and seed can train side by side
in one model (:func:`build_fused`), each as it would alone; a model built and compiled elsewhere (a tutorial
script's) trains as a run through :func:`fit`. Which runs to train, in what order, and the sweep's
own files are :mod:`replicate.sweep`'s job; metrics and the report are computed elsewhere.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from replicate import config, convergence, data, fileio, provenance, vocabulary
from replicate.config import RunConfig

_DETERMINISM_ON = False


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the backend, and make TensorFlow's ops deterministic and float32 (not TF32) on a
    GPU (once per process; JAX gets the same from :mod:`replicate.numerics`)."""
    global _DETERMINISM_ON
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow" and not _DETERMINISM_ON:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.config.experimental.enable_tensor_float_32_execution(False)
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


def _optimizer(cfg: RunConfig):
    import keras

    return (keras.optimizers.Adam(cfg.learning_rate) if cfg.optimizer == "adam"
            else keras.optimizers.Adadelta(cfg.learning_rate))


def _build(cfg: RunConfig, seed: int):
    """The run's model, built under its precision policy from the weights that ``seed`` gives."""
    import keras

    from replicate import models

    seed_everything(seed)
    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.mixed_precision else "float32")
    try:
        return models.build(cfg.model, seed=seed, penalty_scale=cfg.penalty_scale)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _loss(cfg: RunConfig):
    from replicate import losses, models

    return losses.ReconstructionLoss(cfg.loss, models.loss_scale(cfg.model))


def build_and_compile(cfg: RunConfig, seed: int):
    """The run's model, built under its precision policy; its logits model compiled with the loss and optimizer."""
    built = _build(cfg, seed)
    built.logits.compile(optimizer=_optimizer(cfg), steps_per_execution=STEPS_PER_EXECUTION, loss=_loss(cfg))
    return built


def fusable(cfg: RunConfig) -> bool:
    """Whether the run can train side by side with the other losses of its model and seed (``build_fused``); no
    Keras import, so a sweep can plan its units before it picks its backend."""
    return not vocabulary.model(cfg.model).own_loss and not cfg.mixed_precision  # loss scaling would be shared


#: Models this process built and compiled, by their configs without the seed; at most ``_KEPT`` of them.
_COMPILED: dict[tuple, tuple] = {}
_KEPT = 4


def build_fused(cfgs: list[RunConfig], seed: int):
    """One copy of the model per config, all from the same initial weights, side by side in one compiled Keras
    model with one output (its logits) and one loss per copy, and one optimizer.

    The copies share no weights, the total loss is the sum of theirs, and Adam and Adadelta update each weight
    from its own gradient alone, so every copy follows the same path as a run of its loss alone.
    Returns the copies (:class:`models.Built`) and the fused model; a single config gives its own logits model.

    The same configs with another seed get the model built before, its weights drawn again from ``seed`` and its
    optimizer state reset: the backend's traced steps are kept (15 to 20 s saved per seed of the seven-copy conv
    model on TensorFlow), and the numbers are those of a new build. Models with a state other than their weights
    and optimizer (the VAE's random generator) are always built anew.
    """
    from replicate import models

    key = tuple(dataclasses.replace(c, seed=0) for c in cfgs)
    if key in _COMPILED:
        builts, model, optimizer_state = _COMPILED.pop(key)
        seed_everything(seed)
        for built in builts:
            models.initialise(built.autoencoder, seed)
        for variable, value in zip(model.optimizer.variables, optimizer_state, strict=True):
            variable.assign(value)
    else:
        builts, model = _build_fused(cfgs, seed)
        if model.non_trainable_variables:
            return builts, model
        model.optimizer.build(model.trainable_variables)  # as fit would: its slots exist, at their start values
        optimizer_state = [np.array(v.numpy()) for v in model.optimizer.variables]
    _COMPILED[key] = builts, model, optimizer_state
    while len(_COMPILED) > _KEPT:
        del _COMPILED[next(iter(_COMPILED))]
    return builts, model


def clear_compiled() -> None:
    """Forget the models kept for later seeds: the next :func:`build_fused` builds and traces anew."""
    _COMPILED.clear()


def _build_fused(cfgs: list[RunConfig], seed: int):
    import keras

    if len(cfgs) == 1:
        built = build_and_compile(cfgs[0], seed)
        return [built], built.logits
    builts = [_build(cfg, seed) for cfg in cfgs]
    for built, cfg in zip(builts, cfgs):
        built.logits.name = cfg.loss  # the copies need names of their own in one model
    inputs = keras.Input(builts[0].logits.input_shape[1:])
    model = _fused_class()(inputs, [b.logits(inputs) for b in builts], [_loss(cfg) for cfg in cfgs],
                           [cfg.loss for cfg in cfgs])
    model.compile(optimizer=_optimizer(cfgs[0]), steps_per_execution=STEPS_PER_EXECUTION)
    return builts, model


_FUSED = None


def _fused_class():
    """The fused model's class (made once, when Keras is first needed): a functional model whose loss is the sum
    of its copies' losses, each averaged over an epoch's images as a run alone averages its loss (each batch
    weighted by its size). Keras' own per-output averages weight every batch alike on TensorFlow, where a batch's
    size is unknown when the step is traced, so a partial last batch would count as much as a full one."""
    global _FUSED
    if _FUSED is None:
        import keras
        from keras import ops

        class Fused(keras.Model):
            def __init__(self, inputs, outputs, losses, names):
                super().__init__(inputs, outputs, name="fused")
                self.copy_losses = losses
                self.copy_trackers = [keras.metrics.Mean(name=f"{name}_loss") for name in names]

            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                if self.losses:  # a penalty belongs to no copy: such models train alone (fusable)
                    raise ValueError("a model with a loss of its own cannot train side by side")
                size = ops.shape(x)[0]
                total = 0
                for loss, tracker, target, output in zip(self.copy_losses, self.copy_trackers, y, y_pred,
                                                         strict=True):
                    value = loss(target, output)
                    tracker.update_state(value, sample_weight=size)
                    total = total + value
                return total

        _FUSED = Fused
    return _FUSED


def steps_per_epoch(arrays: Arrays, cfg: RunConfig) -> int:
    """The batches of one epoch. Given to ``fit``, it makes Keras keep the iterator it makes as an epoch ends for
    the next epoch instead of making another (on TensorFlow each costs about 20 ms: its functions are instantiated
    again)."""
    return math.ceil(len(arrays.x_train) / cfg.batch_size)


def _data_options():
    """The options of the runner's ``tf.data`` pipelines."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False  # as Keras sets for arrays
    # With autotuning on, about half the epochs of a conv model ran at half speed on a 2-core machine, one core idle
    # throughout (benchmarks/RESULTS.md); without autotuning that does not happen.
    options.autotune.enabled = False
    options.experimental_warm_start = False  # a prefetch must not start before the first batch is asked for
    return options


def epoch_feed(arrays: Arrays, cfg: RunConfig, seed: int, outputs: int, backend: str | None = None):
    """The training data for one ``fit`` over all epochs, and ``set_epoch(e)``, called as epoch e begins, which
    makes epoch e visit the images in the order ``permutation(seed, e)``: a resumed run sees the batches an
    uninterrupted one would. Targets are repeated for a model with ``outputs`` outputs.

    On TensorFlow the data is a ``tf.data`` pipeline that gathers the batches in its own thread, two ahead of the
    step, from an order held in a variable; on other backends, a ``keras.utils.PyDataset``. The runner's ``fit`` is
    given :func:`steps_per_epoch`, so Keras keeps the iterator it makes as an epoch ends for the next epoch; neither
    feed reads the order before the epoch's first batch is asked for.
    """
    import keras

    n, size = len(arrays.x_train), cfg.batch_size
    same = arrays.y_train is arrays.x_train

    def order(epoch: int) -> np.ndarray:
        return np.random.default_rng([seed, epoch]).permutation(n) if cfg.shuffle else np.arange(n)

    def pair(x, y):
        return x, (y if outputs == 1 else (y,) * outputs)

    if (backend or keras.backend.backend()) == "tensorflow":
        import tensorflow as tf

        current = tf.Variable(order(0), trainable=False)
        x = tf.constant(arrays.x_train)
        y = x if same else tf.constant(arrays.y_train)
        # The known length makes Keras start a new iterator when an epoch's batches are done.
        indices = tf.data.Dataset.range(1).flat_map(
            lambda _: tf.data.Dataset.from_tensor_slices(tf.identity(current)).batch(size)
        ).apply(tf.data.experimental.assert_cardinality(steps_per_epoch(arrays, cfg)))

        def batch(index):
            xb = tf.gather(x, index)
            return pair(xb, xb if same else tf.gather(y, index))

        # A sequential map: with op determinism on, tf.data rewrites a parallel one into this anyway, and logs an
        # error about the attribute the rewrite drops (use_unbounded_threadpool).
        # Keras makes the next epoch's iterator as an epoch's last step ends, before the next order is set; without
        # warm start the prefetch starts its thread, and so reads the order, at the first batch asked for.
        data = indices.map(batch).with_options(_data_options()).prefetch(2)
        return data, lambda epoch: current.assign(order(epoch))

    class EpochBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.set_epoch(0)

        def set_epoch(self, epoch: int) -> None:
            self.order = order(epoch)

        def __len__(self):
            return steps_per_epoch(arrays, cfg)

        def __getitem__(self, i):
            index = self.order[i * size:(i + 1) * size]
            x = arrays.x_train[index]
            return pair(x, x if same else arrays.y_train[index])

    data = EpochBatches()
    return data, data.set_epoch


#: Keras' batch size for validation arrays when ``fit`` gets no batch size (the runner's gets a dataset): every
#: committed report was made with it.
VALIDATION_BATCH = 32


def validation_feed(arrays: Arrays, outputs: int, backend: str | None = None):
    """The validation data for ``fit``, targets repeated for ``outputs`` outputs. On TensorFlow a ``tf.data``
    pipeline of the batches Keras makes of arrays (in order, 32 each): Keras' own pipeline for arrays instantiates
    its functions again for every evaluation, about 30 ms an epoch; this one has none to instantiate."""
    import keras

    if (backend or keras.backend.backend()) != "tensorflow":
        return arrays.x_test, (arrays.y_test if outputs == 1 else [arrays.y_test] * outputs)
    import tensorflow as tf

    def batches(a: np.ndarray):
        return tf.data.Dataset.from_tensor_slices(a).batch(VALIDATION_BATCH)

    x = batches(arrays.x_test)
    y = x if arrays.y_test is arrays.x_test else batches(arrays.y_test)
    return tf.data.Dataset.zip(x, y if outputs == 1 else (y,) * outputs).with_options(_data_options())


def train_one(cfg: RunConfig, run_dir: str | os.PathLike, train: np.ndarray, test: np.ndarray,
              on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train one run into ``run_dir`` (resuming from its checkpoint) and return its ``status.json`` content.

    ``train`` and ``test`` are float32 images (N, 28, 28) in [0, 1]; the config's subsets are cut here.
    """
    hook = (lambda epoch, rows: on_epoch(epoch, rows[0])) if on_epoch else None
    return train_side_by_side([cfg], [run_dir], run_dir, train, test, hook)[0]


def train_side_by_side(cfgs: list[RunConfig], run_dirs: list, state_dir: str | os.PathLike, train: np.ndarray,
                       test: np.ndarray, on_epoch: Callable[[int, list], None] | None = None) -> list[dict]:
    """Train runs that differ only in their loss, side by side in one model (see :func:`build_fused`), each into
    its own folder; return their ``status.json`` contents.

    Each run stops at its own convergence epoch (:mod:`replicate.convergence`, when its config sets a
    ``patience``) or at its epoch cap: its artifacts are written then, from its own copy, which is what it would be
    alone; the others train on. After every epoch the whole state is checkpointed atomically in ``state_dir``, so
    an interrupted call loses at most the epoch in progress and a new call resumes it bit-identically. A run whose
    loss turns non-finite is marked failed at the end of that epoch; the others go on. ``on_epoch(epoch, rows)``
    gets one row per run (``None`` for one that has failed or finished).
    """
    cfg = cfgs[0]
    if any(dataclasses.replace(c, loss=cfg.loss) != cfg for c in cfgs):
        raise ValueError("runs trained together must differ in their loss only")
    builts, model = build_fused(cfgs, run_seed(cfg))
    return _train_built(cfgs, run_dirs, state_dir, builts, model, prepare(cfg, train, test, builts[0].flat), on_epoch)


def fit(cfg: RunConfig, run_dir: str | os.PathLike, built, x: np.ndarray, y: np.ndarray, *, epochs: int,
        batch_size: int, shuffle: bool = True, validation_data: tuple,
        on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train a model its caller built and compiled, given ``model.fit``'s arguments, as :func:`train_one` trains
    ``cfg`` into ``run_dir``; return the run's ``status.json`` content.

    ``built`` is a :class:`replicate.models.Built` of the caller's layers, its ``logits`` model compiled with the
    config's optimizer and a :class:`replicate.losses.ReconstructionLoss`; ``x``, ``y`` and ``validation_data`` are
    arrays in the model's layout. This is the tutorial scripts' ``fit``: the weights are drawn from the run's seed as
    :func:`models.build` draws them, and the rest is :func:`train_one`'s (seeded epoch order, a checkpoint after
    every epoch that a new call resumes from bit-identically, the same artifacts). :func:`check_fit` first refuses
    arguments that differ from ``cfg``.
    """
    from replicate import models

    check_fit(cfg, built.logits, epochs=epochs, batch_size=batch_size, shuffle=shuffle)
    models.initialise(built.autoencoder, run_seed(cfg))
    hook = (lambda epoch, rows: on_epoch(epoch, rows[0])) if on_epoch else None
    return _train_built([cfg], [run_dir], run_dir, [built], built.logits, Arrays(x, y, *validation_data), hook)[0]


def check_fit(cfg: RunConfig, model, *, epochs: int, batch_size: int, shuffle: bool = True) -> None:
    """Raise a ``ValueError`` naming every ``fit`` argument, optimizer setting or loss of the compiled ``model``
    that differs from ``cfg``, so that a run's ``config.json`` says what was trained."""
    from keras import ops

    from replicate import models

    optimizer, loss = getattr(model, "optimizer", None), getattr(model, "loss", None)
    given = {"epochs": epochs, "batch_size": batch_size, "shuffle": shuffle,
             "optimizer": type(optimizer).__name__.lower() if optimizer else None,
             "learning_rate": float(ops.convert_to_numpy(optimizer.learning_rate)) if optimizer else None,
             "loss": getattr(loss, "key", loss), "loss scale": getattr(loss, "scale", None)}
    wanted = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "shuffle": cfg.shuffle,
              "optimizer": cfg.optimizer, "learning_rate": cfg.learning_rate, "loss": cfg.loss,
              "loss scale": models.loss_scale(cfg.model)}
    same_rate = given["learning_rate"] is not None and math.isclose(given["learning_rate"], cfg.learning_rate,
                                                                     rel_tol=1e-6)  # stored as float32
    differ = [f"{key} {given[key]!r} where the run's config has {wanted[key]!r}" for key in given
              if given[key] != wanted[key] and not (key == "learning_rate" and same_rate)]
    if differ:
        raise ValueError(f"this fit differs from the run's config: {'; '.join(differ)}. Pass the config's values, "
                         "and compile the logits model with its optimizer and losses.ReconstructionLoss(loss, scale).")


def _train_built(cfgs: list[RunConfig], run_dirs: list, state_dir: str | os.PathLike, builts: list, model,
                 arrays: Arrays, on_epoch: Callable[[int, list], None] | None) -> list[dict]:
    """:func:`train_side_by_side` from its models built and compiled and its arrays prepared."""
    import keras

    from replicate import losses

    cfg = cfgs[0]
    for c in cfgs:
        losses.get(c.loss).check_targets(arrays.y_train, "training targets")
    run_dirs, state_dir = [Path(d) for d in run_dirs], Path(state_dir)
    seed = run_seed(cfg)
    for folder in {*run_dirs, state_dir}:
        fileio.remove_leftovers(folder)  # temporary files of a write that was interrupted
    done = [_already_done(c, d) for c, d in zip(cfgs, run_dirs)]
    for c, run_dir, finished_before in zip(cfgs, run_dirs, done):
        if not finished_before:
            fileio.write_json(run_dir / "config.json", c.to_dict())
    names = [c.loss for c in cfgs]
    histories, failures, finished, start, began = _restore(model, state_dir, names)
    # The sweep process that started these runs, resumed or not ("" for a checkpoint from before the ids: unknown).
    began = provenance.process() if began is None else began
    finished = [f or d for f, d in zip(finished, done)]
    floors = [_floor(c, arrays.y_test) for c in cfgs]
    keys = ([("loss", "val_loss")] if len(cfgs) == 1 else [(f"{k}_loss", f"val_{k}_loss") for k in names])
    feed, set_epoch = epoch_feed(arrays, cfg, seed, len(cfgs))
    probe_x, probe_y = arrays.x_test[:config.SATURATION_IMAGES], arrays.y_test[:config.SATURATION_IMAGES]
    started = time.perf_counter()
    statuses: list[dict | None] = [None] * len(cfgs)

    def finish(i: int, reason: str) -> None:
        statuses[i] = _finish(cfgs[i], run_dirs[i], builts[i], arrays, histories[i], failures[i], floors[i],
                              names, time.perf_counter() - started, reason, began)
        finished[i] = True

    def epoch_end(epoch: int, logs: dict) -> None:
        saturated = _saturation(model, probe_x, probe_y)
        rows = []
        for i, (train_key, val_key) in enumerate(keys):
            if finished[i] or failures[i]:
                rows.append(None)
                continue
            row = {"epoch": epoch + 1, "loss": float(logs[train_key]), "val_loss": float(logs[val_key]),
                   "saturated_wrong": saturated[i]}
            if not (math.isfinite(row["loss"]) and math.isfinite(row["val_loss"])):
                failures[i] = (f"loss became non-finite (loss={row['loss']}, val_loss={row['val_loss']}) in "
                               f"epoch {epoch + 1}")
                rows.append(None)
                continue
            for key, value in row.items():
                histories[i].setdefault(key, []).append(value)
            rows.append(row)
        for i, c in enumerate(cfgs):
            if finished[i] or failures[i]:
                continue
            if c.patience and convergence.converged_epoch(histories[i]["val_loss"], floors[i], c.patience,
                                                           c.min_improvement) is not None:
                finish(i, "converged")
            elif epoch + 1 >= c.epochs:
                finish(i, "epoch cap")
        if all(finished[i] or failures[i] for i in range(len(cfgs))):
            model.stop_training = True
        _checkpoint(model, state_dir, names, histories, failures, finished, epoch + 1, process=began)
        if on_epoch:
            on_epoch(epoch + 1, rows)

    class Hooks(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            set_epoch(epoch)

        def on_epoch_end(self, epoch, logs=None):
            epoch_end(epoch, logs)

    if start < cfg.epochs and not all(finished[i] or failures[i] for i in range(len(cfgs))):
        model.fit(feed, epochs=cfg.epochs, initial_epoch=start, steps_per_epoch=steps_per_epoch(arrays, cfg),
                  shuffle=False, verbose=0, validation_data=validation_feed(arrays, len(cfgs)), callbacks=[Hooks()])
    for i in range(len(cfgs)):
        if statuses[i] is not None:
            continue
        path = run_dirs[i] / "status.json"
        if not finished[i]:  # failed, or the checkpoint was already at the cap
            finish(i, "failed" if failures[i] else "epoch cap")
        elif path.exists():  # finished in an earlier call
            statuses[i] = fileio.read_json(path)
        else:  # finished earlier, but its folder was emptied since: its copy has trained on, so it must be redone
            statuses[i] = {"status": "failed", "reason": "its artifacts were removed after it finished; it will be "
                           "trained again", "epoch": None}
            fileio.write_json(path, statuses[i])
    _clear_checkpoint(state_dir)
    return statuses


def _floor(cfg: RunConfig, y_test: np.ndarray) -> float:
    """The run's validation-loss floor: the mean per-pixel floor of its loss over the test targets (times the
    VAE's pixel count), computed on their 8-bit levels."""
    from replicate import models, theory

    levels = np.rint(np.asarray(y_test, dtype=np.float64) * 255).astype(np.int64).ravel()
    counts = np.bincount(levels, minlength=256)
    return float(counts @ theory.level_floors(cfg.loss) / counts.sum() * models.loss_scale(cfg.model))


def _saturation(model, x, y) -> list[float]:
    """Per output of ``model``: the share of pixels whose logit is saturated (|z| > config.SATURATION_LOGIT) with
    the output more than 0.5 away from its target, i.e. stuck at the wrong end."""
    from keras import ops

    from replicate.theory import sigmoid

    outputs = model(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    y = np.asarray(y, dtype=np.float64)
    shares = []
    for z in outputs:
        z = ops.convert_to_numpy(z).astype(np.float64).reshape(y.shape)
        with np.errstate(invalid="ignore"):  # a diverged copy's NaN logits count as not saturated
            shares.append(float(np.mean((np.abs(z) > config.SATURATION_LOGIT) & (np.abs(sigmoid(z) - y) > 0.5))))
    return shares


def _finish(cfg: RunConfig, run_dir: Path, built, arrays: Arrays, history: dict, failure: str | None, floor: float,
            names: list[str], wall: float, reason: str, process: str | None = None) -> dict:
    """Write a run's artifacts from its own copy as it stands now, then its ``status.json``; return the status."""
    from replicate import analysis, losses, models

    n_train = len(arrays.x_train)
    epochs = len(history["epoch"])
    gains = convergence.improvements(history["val_loss"], floor)
    status = {"status": "failed" if failure else "done", "reason": failure, "epoch": epochs,
              "steps": epochs * math.ceil(n_train / cfg.batch_size), "stopped": None if failure else reason,
              "floor": floor, "last_improvement": gains[-1] if gains else None,
              "wall_s": round(wall, 3), "device": provenance.device(), "backend": cfg.backend,
              "final_loss": history["loss"][-1] if history["loss"] else None,
              "final_val_loss": history["val_loss"][-1] if history["val_loss"] else None}
    if len(names) > 1:
        status["trained_with"] = [k for k in names if k != cfg.loss]  # wall_s is the time of them all
    if process:
        status["process"] = process  # the provenance record of the sweep process that started the run
    fileio.write_json(run_dir / "history.json", history)
    if failure is None:
        logits = models.reconstruct_logits(built, arrays.x_test)
        loss = losses.get(cfg.loss)
        recon = loss.reconstruction(logits).reshape(-1, 28, 28)
        recon = recon.astype(np.float16)  # as stored, so evaluate screens the same numbers
        fileio.write_npz(run_dir / "reconstructions.npz", recon=recon)
        status["test_reconstruction_loss"] = _mean_loss(cfg, arrays.y_test, logits)
        if vocabulary.model(cfg.model).own_loss:
            status["penalty"] = _penalty(cfg, built, arrays.x_test)
        status["screen"] = analysis.screen(recon, arrays.y_test.reshape(-1, 28, 28))
        built.autoencoder.name = cfg.model
        fileio.atomic_write(run_dir / "model.keras", built.autoencoder.save, suffix=".keras")
        status["artifacts"] = {name: fileio.sha256(run_dir / name) for name in ARTIFACTS}
    fileio.write_json(run_dir / "status.json", status)  # after the artifacts: "done" means they are all there
    return status


#: Files of a finished run whose SHA-256 its status.json records, so a damaged or altered copy is noticed.
ARTIFACTS = ("reconstructions.npz", "model.keras")


def _mean_loss(cfg: RunConfig, y: np.ndarray, logits: np.ndarray) -> float:
    """The run's reconstruction loss on the test images alone (no penalty term), in the units it trains on."""
    from keras import ops

    per_image = _loss(cfg)(y.astype(np.float32), logits.astype(np.float32))
    return float(np.mean(ops.convert_to_numpy(per_image)))


def _penalty(cfg: RunConfig, built, x: np.ndarray) -> dict:
    """The model's own penalty on the test images: the sparse model's L1 on its code, the VAE's KL term."""
    from replicate import models, vocabulary

    if vocabulary.model(cfg.model).builder == "vae":
        z_mean, z_log_sigma, _ = built.encoder.predict(x, batch_size=1024, verbose=0)
        kl = -0.5 * np.sum(1 + z_log_sigma - np.square(z_mean) - np.exp(z_log_sigma), axis=-1)
        return {"kind": "KL divergence", "coefficient": cfg.penalty_scale, "term": float(np.mean(kl)),
                "value": float(cfg.penalty_scale * np.mean(kl))}
    code = built.encoder.predict(x, batch_size=1024, verbose=0)
    coefficient = models.SPARSE_L1 * cfg.penalty_scale
    return {"kind": "L1 activity", "coefficient": coefficient, "code_mean": float(np.mean(code)),
            "term": float(np.mean(np.sum(np.abs(code), axis=-1))),
            "value": float(coefficient * np.mean(np.sum(np.abs(code), axis=-1)))}


def _state(model) -> list:
    """Every variable training changes: weights, optimizer slots and step, random-generator states."""
    return [*model.variables, *model.optimizer.variables]


def _already_done(cfg: RunConfig, run_dir: Path) -> bool:
    """Whether the run finished earlier with this very config (its artifacts are then kept as they are)."""
    try:
        return (fileio.read_json(run_dir / "status.json")["status"] == "done"
                and fileio.read_json(run_dir / "config.json") == cfg.to_dict())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def not_the_runs_fault(err: Exception) -> bool:
    """An I/O failure (a full disk, a read-only folder), or the scheduler stopping a shard for good (submitit's
    ``UncompletedJobError`` at its last time limit): the sweep stops, and neither the run nor its checkpoint is
    given up."""
    submitit = sys.modules.get("submitit.core.utils")  # loaded where a shard runs as a submitit job
    return isinstance(err, OSError) or (submitit is not None and isinstance(err, submitit.UncompletedJobError))


def _restore(model, state_dir: Path, names: list[str]) -> tuple[list[dict], list, list, int, str | None]:
    """Load the last checkpoint of these runs into ``model``; return histories, failures, which runs have
    finished, the next epoch and the sweep process that started them ("" where the checkpoint does not say; None
    for a fresh start). A checkpoint of other runs, or one that cannot be read (an interrupted or damaged write),
    is removed and training starts afresh, saying so; so is a TensorFlow side-by-side checkpoint whose epoch losses
    average batches, not images, as before 9bd1042 (its histories would mix the two)."""
    import keras

    ckpt = state_dir / "checkpoint.json"
    fresh = ([{"epoch": [], "loss": [], "val_loss": [], "saturated_wrong": []} for _ in names], [None] * len(names),
             [False] * len(names), 0, None)
    if not ckpt.exists():
        if any(state_dir.glob("checkpoint-e*.npz")):
            _clear_checkpoint(state_dir)  # state written, pointer not: the epoch is redone
        return fresh
    try:
        saved = fileio.read_json(ckpt)
        if saved["losses"] != names:
            raise ValueError(f"it holds the runs {saved['losses']}, not {names}")
        if len(names) > 1 and saved.get("loss_average") != "images" and keras.backend.backend() == "tensorflow":
            raise ValueError("its epoch losses average batches, not images (written before 9bd1042)")
        if not model.optimizer.built:  # a loss-scaling optimizer would add its variables again
            model.optimizer.build(model.trainable_variables)
        variables = _state(model)
        stored = fileio.read_npz(state_dir / saved["state"])
        values = [stored[f"v{i}"] for i in range(len(stored))]
        if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
            raise ValueError("it does not fit this model")
        for variable, value in zip(variables, values):
            variable.assign(value)
        return saved["histories"], saved["failures"], saved["finished"], saved["epochs"], saved.get("process", "")
    except Exception as err:  # any unreadable checkpoint means the same thing: start these runs again
        if not_the_runs_fault(err):
            raise
        print(f"note: the checkpoint in {state_dir.name} cannot be used ({type(err).__name__}: {err}); it is removed "
              "and these runs start again", flush=True)
        _clear_checkpoint(state_dir)
        return fresh


def _checkpoint(model, state_dir: Path, names: list[str], histories: list[dict], failures: list,
                finished: list, epochs: int, process: str | None = None) -> None:
    """The state after ``epochs`` epochs under an epoch-numbered name (uncompressed: fast), then the JSON that
    points at it."""
    from keras import ops

    name = f"checkpoint-e{epochs}.npz"
    values = {f"v{i}": ops.convert_to_numpy(v.value) for i, v in enumerate(_state(model))}
    fileio.write_npz(state_dir / name, compress=False, **values)
    fileio.write_json(state_dir / "checkpoint.json",
                      {"state": name, "epochs": epochs, "losses": names, "histories": histories,
                       "failures": failures, "finished": finished, "process": process, "loss_average": "images"})
    for old in state_dir.glob("checkpoint-e*.npz"):
        if old.name != name:
            old.unlink()


def _clear_checkpoint(state_dir: Path) -> None:
    for path in [state_dir / "checkpoint.json", *state_dir.glob("checkpoint-e*.npz")]:
        path.unlink(missing_ok=True)
    fileio.remove_leftovers(state_dir)
    if state_dir.exists() and not any(state_dir.iterdir()):
        state_dir.rmdir()
