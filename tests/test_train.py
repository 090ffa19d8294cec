"""Training one run, or the losses of a model and seed side by side: determinism, resume, fusion, feeds."""
from pathlib import Path

import numpy as np
import pytest

from replicate import config, fileio, losses, train, vocabulary
from tests.runs import TINY, synthetic_split


def test_same_config_same_numbers(tmp_path):
    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**TINY)
    first = train.train_one(cfg, tmp_path / "a", train_x, test_x)
    train.clear_compiled()  # a model built anew (one reused for a later seed is tested below)
    second = train.train_one(cfg, tmp_path / "b", train_x, test_x)
    assert first["status"] == second["status"] == "done"
    assert (tmp_path / "a/history.json").read_bytes() == (tmp_path / "b/history.json").read_bytes()
    ra, rb = (np.load(tmp_path / f"{d}/reconstructions.npz")["recon"] for d in "ab")
    np.testing.assert_array_equal(ra, rb)


def test_mixed_precision_keeps_a_float32_output(tmp_path):
    import keras

    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, "epochs": 1, "mixed_precision": True})
    assert train.train_one(cfg, tmp_path / "run", train_x, test_x)["status"] == "done"
    # The loss-scaling optimizer of mixed precision is not restored by load_model; weights and layers are.
    model = keras.models.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert model.layers[1].dtype_policy.name == "mixed_float16"
    assert model.layers[-1].dtype_policy.name == "float32" and model.output.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored for the next run
    assert np.isfinite(np.load(tmp_path / "run/reconstructions.npz")["recon"]).all()


def _stop_after_first(epoch, row):
    if epoch == 1:
        raise KeyboardInterrupt


@pytest.mark.parametrize("changes", [{"model": "vae"}, {"mixed_precision": True}], ids=["vae", "mixed_precision"])
def test_interrupted_run_resumes_bit_identical(tmp_path, changes):
    """Stop after epoch 1, resume, get the same run: the checkpoint holds the VAE's sampling-noise state and the
    loss-scaling optimizer's scale and step counter as well as weights and optimizer slots."""
    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, **changes})
    train.train_one(cfg, tmp_path / "straight", train_x, test_x)
    with pytest.raises(KeyboardInterrupt):
        train.train_one(cfg, tmp_path / "resumed", train_x, test_x, on_epoch=_stop_after_first)
    assert len(fileio.read_json(tmp_path / "resumed/checkpoint.json")["histories"][0]["epoch"]) == 1
    epochs = []
    train.train_one(cfg, tmp_path / "resumed", train_x, test_x, on_epoch=lambda epoch, row: epochs.append(epoch))
    assert epochs == [2, 3]  # resumed from the checkpoint, not started again
    assert (tmp_path / "resumed/history.json").read_bytes() == (tmp_path / "straight/history.json").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "resumed/reconstructions.npz")["recon"],
                                  np.load(tmp_path / "straight/reconstructions.npz")["recon"])


def test_losses_of_one_model_and_seed_share_initialisation():
    a = config.RunConfig(**TINY)
    b = config.RunConfig(**{**TINY, "loss": "mse"})
    c = config.RunConfig(**{**TINY, "seed": 1})
    assert train.run_seed(a) == train.run_seed(b) != train.run_seed(c)


def _weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(run_dir / "model.keras", compile=False).get_weights()


@pytest.mark.parametrize("model,names,checked", [("simple", ("bce", "mse", "ssim"), ("bce", "mse", "ssim")),
                                                 ("conv", ("mae", "ms_ssim_l1"), ("ms_ssim_l1",))],
                         ids=["simple", "conv"])
def test_fused_runs_train_as_they_would_alone(tmp_path, model, names, checked):
    """Losses trained side by side in one model end with the weights, losses and reconstructions of solo runs (for
    the conv model, whose solo runs cost seconds each, the copy with the costlier loss). The last training and
    validation batches are partial: an epoch's loss averages images, not batches, as a solo run's does."""
    train_x, test_x = synthetic_split()
    cfgs = [config.RunConfig(**{**TINY, "model": model, "loss": name, "epochs": 2, "train_limit": 120,
                                "test_limit": 40}) for name in names]
    fused = train.train_side_by_side(cfgs, [tmp_path / "fused" / c.loss for c in cfgs], tmp_path / "state", train_x, test_x)
    assert [s["status"] for s in fused] == ["done"] * len(cfgs) and not (tmp_path / "state").exists()
    for cfg, status in zip(cfgs, fused):
        if cfg.loss not in checked:
            continue
        alone = train.train_one(cfg, tmp_path / "alone" / cfg.loss, train_x, test_x)
        assert status["trained_with"] == [n for n in names if n != cfg.loss]
        for w_fused, w_alone in zip(_weights(tmp_path / "fused" / cfg.loss), _weights(tmp_path / "alone" / cfg.loss),
                                    strict=True):
            np.testing.assert_allclose(w_fused, w_alone, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(status["final_val_loss"], alone["final_val_loss"], rtol=1e-5)
        histories = [fileio.read_json(tmp_path / way / cfg.loss / "history.json") for way in ("fused", "alone")]
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(np.load(tmp_path / "fused" / cfg.loss / "reconstructions.npz")["recon"],
                                   np.load(tmp_path / "alone" / cfg.loss / "reconstructions.npz")["recon"], atol=1e-3)


def _side_by_side_into(folder: Path, cfgs: list, on_epoch=None) -> list[dict]:
    """Train ``cfgs`` side by side on the synthetic split, each run into ``folder/<loss>``, the state in
    ``folder/state``."""
    train_x, test_x = synthetic_split()
    return train.train_side_by_side(cfgs, [folder / c.loss for c in cfgs], folder / "state", train_x, test_x,
                                    on_epoch)


def test_interrupted_fused_runs_resume_bit_identical(tmp_path):
    cfgs = [config.RunConfig(**{**TINY, "loss": name}) for name in ("bce", "huber")]

    def run(name, on_epoch=None):
        return _side_by_side_into(tmp_path / name, cfgs, on_epoch)

    run("straight")
    with pytest.raises(KeyboardInterrupt):
        run("resumed", _stop_after_first)
    saved = fileio.read_json(tmp_path / "resumed/state/checkpoint.json")
    assert saved["losses"] == ["bce", "huber"] and [len(h["epoch"]) for h in saved["histories"]] == [1, 1]
    run("resumed")
    for name in ("bce", "huber"):
        assert (tmp_path / "resumed" / name / "history.json").read_bytes() == \
            (tmp_path / "straight" / name / "history.json").read_bytes()
        np.testing.assert_array_equal(np.load(tmp_path / "resumed" / name / "reconstructions.npz")["recon"],
                                      np.load(tmp_path / "straight" / name / "reconstructions.npz")["recon"])


def test_side_by_side_checkpoint_from_before_image_averages_starts_again(tmp_path, capsys):
    """On TensorFlow, a side-by-side checkpoint whose epoch losses averaged batches (before 9bd1042, no
    "loss_average") is not resumed: its histories would mix the two averages."""
    import keras

    cfgs = [config.RunConfig(**{**TINY, "loss": name, "train_limit": 120, "test_limit": 40}) for name in ("bce", "mse")]

    def run(name, on_epoch=None):
        return _side_by_side_into(tmp_path / name, cfgs, on_epoch)

    run("straight")
    with pytest.raises(KeyboardInterrupt):
        run("old", _stop_after_first)
    pointer = tmp_path / "old/state/checkpoint.json"
    saved = fileio.read_json(pointer)
    assert saved.pop("loss_average") == "images"
    saved["histories"][0]["val_loss"][0] += 1.0  # what the older average would have logged instead
    fileio.write_json(pointer, saved)
    run("old")
    restarted = keras.backend.backend() == "tensorflow"
    assert ("cannot be used" in capsys.readouterr().out) == restarted
    for name in ("bce", "mse"):
        same = (tmp_path / "old" / name / "history.json").read_bytes() == \
            (tmp_path / "straight" / name / "history.json").read_bytes()
        assert same == (restarted or name == "mse")


def later_seed_on_the_same_model(out: Path) -> None:
    """Seed 1 trained after seed 0 in one process, on the model built for seed 0, ends as seed 1 built anew: same
    history, weights and reconstructions, bit for bit (Adam's state matters from the second step on)."""

    def run(name: str, seed: int):
        cfgs = [config.RunConfig(**{**TINY, "loss": loss, "seed": seed, "epochs": 2}) for loss in ("bce", "ssim")]
        _side_by_side_into(out / name, cfgs)
        return [model for _, model, _ in train._COMPILED.values()]

    train.clear_compiled()
    first = run("seed0", 0)
    assert len(first) == 1 and run("reused", 1) == first  # the same model object, kept
    train.clear_compiled()
    assert run("anew", 1) != first
    for loss in ("bce", "ssim"):
        reused, anew = out / "reused" / loss, out / "anew" / loss
        assert (reused / "history.json").read_bytes() == (anew / "history.json").read_bytes()
        np.testing.assert_array_equal(np.load(reused / "reconstructions.npz")["recon"],
                                      np.load(anew / "reconstructions.npz")["recon"])
        for w_reused, w_anew in zip(_weights(reused), _weights(anew), strict=True):
            np.testing.assert_array_equal(w_reused, w_anew)
    assert (out / "seed0" / "bce" / "history.json").read_bytes() != (out / "anew" / "bce" / "history.json").read_bytes()


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_later_seed_reuses_the_compiled_model_with_the_numbers_of_a_new_one(tmp_path, backend):
    import os
    import subprocess
    import sys

    if backend == "tensorflow":
        later_seed_on_the_same_model(tmp_path)
        return
    script = "import sys; from pathlib import Path; from tests import test_train; " \
             "test_train.later_seed_on_the_same_model(Path(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env={**os.environ, "KERAS_BACKEND": "jax"},
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]


def test_models_with_a_loss_of_their_own_train_alone(tmp_path):
    """Keras adds a model's own loss (activity penalty, KL) to the total only, so those models are never fused."""
    from replicate import models

    for name in config.MODELS:
        built = models.build(name, seed=0)
        shape = (2, 784) if built.flat else (2, 28, 28, 1)
        built.logits(np.full(shape, 0.5, dtype="float32"), training=True)
        assert bool(built.logits.losses) == vocabulary.model(name).own_loss, name
        cfg = config.protocol_run(name, dataset="synthetic", loss="mse", seed=0)
        assert train.fusable(cfg) == (not vocabulary.model(name).own_loss)
    assert not train.fusable(config.RunConfig(**{**TINY, "mixed_precision": True}))
    cfgs = [config.RunConfig(**{**TINY, "model": "sparse", "loss": loss, "epochs": 1}) for loss in ("bce", "mse")]
    with pytest.raises(ValueError, match="loss of its own"):  # fused anyway, it would drop the penalty
        _side_by_side_into(tmp_path, cfgs)


def test_both_feeds_give_each_epoch_its_own_seeded_order():
    """The tf.data feed and the PyDataset feed yield the same batches: epoch e in the order permutation(seed, e)."""
    import tensorflow as tf

    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, "train_limit": 100, "noise_factor": 0.5})
    arrays = train.prepare(cfg, train_x, test_x, flat=True)
    tf_data, tf_epoch = train.epoch_feed(arrays, cfg, seed=7, outputs=2, backend="tensorflow")
    py_data, py_epoch = train.epoch_feed(arrays, cfg, seed=7, outputs=2, backend="jax")
    assert isinstance(tf_data, tf.data.Dataset) and len(py_data) == 4  # 3 batches of 32, then 4 images
    assert tf_data.options().autotune.enabled is False  # autotuning halved the speed of some epochs on 2 cores
    for epoch in (0, 1, 0):
        tf_epoch(epoch)
        py_epoch(epoch)
        order = np.random.default_rng([7, epoch]).permutation(100)
        batches = list(tf_data.as_numpy_iterator())
        assert len(batches) == 4
        for i, (x, (y1, y2)) in enumerate(batches):
            px, (py1, py2) = py_data[i]
            index = order[32 * i:32 * (i + 1)]
            np.testing.assert_array_equal(x, arrays.x_train[index])
            np.testing.assert_array_equal(px, x)
            for y in (y1, y2, py1, py2):
                np.testing.assert_array_equal(y, arrays.y_train[index])


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_each_epoch_keeps_its_order_when_keras_keeps_the_iterator(backend):
    """With ``steps_per_epoch`` Keras makes the next epoch's iterator as an epoch's last batch is taken, before the
    next order is set: the feed must not read the order until that epoch's first batch (a prefetch started at once,
    e.g. tf.data's warm start, would give epoch e + 1 the order of epoch e)."""
    import tensorflow as tf
    from keras.src.backend.jax.trainer import JAXEpochIterator
    from keras.src.backend.tensorflow.trainer import TFEpochIterator

    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, "train_limit": 100})
    arrays = train.prepare(cfg, train_x, test_x, flat=True)
    data, set_epoch = train.epoch_feed(arrays, cfg, seed=7, outputs=1, backend=backend)
    steps = train.steps_per_epoch(arrays, cfg)
    if backend == "tensorflow":
        epochs = TFEpochIterator(x=data, steps_per_epoch=steps, distribute_strategy=tf.distribute.get_strategy())
    else:
        epochs = JAXEpochIterator(x=data, steps_per_epoch=steps)
    epochs.reset()  # as fit does once, before its first epoch
    for epoch in range(3):
        set_epoch(epoch)  # fit's on_epoch_begin
        seen = [np.asarray(next(iterator)[0]) for _, _, iterator in epochs]
        order = np.random.default_rng([7, epoch]).permutation(100)
        assert len(seen) == steps == 4
        np.testing.assert_array_equal(np.concatenate(seen), arrays.x_train[order])


@pytest.mark.parametrize("outputs", [1, 3])
def test_the_validation_feed_gives_the_batches_keras_makes_of_arrays(outputs):
    """The TensorFlow validation pipeline yields exactly the batches of Keras' own pipeline for the arrays (32 each,
    in order, the last one partial; noisy inputs, clean targets), so validation losses keep their bits."""
    import tensorflow as tf
    from keras.src.trainers.data_adapters import array_data_adapter

    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, "test_limit": 40, "noise_factor": 0.5})
    arrays = train.prepare(cfg, train_x, test_x, flat=False)
    assert arrays.x_test is not arrays.y_test and len(arrays.x_test) == 40
    feed = train.validation_feed(arrays, outputs, backend="tensorflow")
    assert isinstance(feed, tf.data.Dataset) and feed.options().autotune.enabled is False
    y = arrays.y_test if outputs == 1 else [arrays.y_test] * outputs
    keras_batches = list(array_data_adapter.ArrayDataAdapter(arrays.x_test, y, shuffle=False).get_numpy_iterator())
    ours = list(feed.as_numpy_iterator())
    assert [len(b[0]) for b in ours] == [32, 8] and len(keras_batches) == 2
    for (x, ys), (kx, kys) in zip(ours, keras_batches):
        np.testing.assert_array_equal(x, kx)
        for got, want in zip((ys,) if outputs == 1 else ys, (kys,) if outputs == 1 else kys, strict=True):
            np.testing.assert_array_equal(got, want)
    x, ys = train.validation_feed(arrays, outputs, backend="jax")  # other backends: Keras' own pipeline
    assert x is arrays.x_test and (ys is arrays.y_test if outputs == 1 else all(a is arrays.y_test for a in ys))


def test_fused_runs_resume_after_one_of_them_failed(tmp_path, monkeypatch):
    """A run that failed stops its history early; the others resume from the epoch they reached."""
    monkeypatch.setitem(losses.REGISTRY, "mae", losses.Loss("mae", lambda a, x: losses.mse(a, x) * float("nan")))
    train_x, test_x = synthetic_split()
    cfgs = [config.RunConfig(**{**TINY, "loss": name}) for name in ("mae", "mse")]

    def stop_after_second(epoch, rows):
        if epoch == 2:
            raise KeyboardInterrupt

    dirs = [tmp_path / c.loss for c in cfgs]
    with pytest.raises(KeyboardInterrupt):
        train.train_side_by_side(cfgs, dirs, tmp_path / "state", train_x, test_x, stop_after_second)
    statuses = train.train_side_by_side(cfgs, dirs, tmp_path / "state", train_x, test_x)
    assert statuses[0]["status"] == "failed" and "epoch 1" in statuses[0]["reason"]
    assert statuses[1]["status"] == "done" and fileio.read_json(dirs[1] / "history.json")["epoch"] == [1, 2, 3]
