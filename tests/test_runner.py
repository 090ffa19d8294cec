"""The runner end to end on synthetic data: smoke sweep, artifacts, determinism, resume, NaN, bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from replicate import cli, config, data, fileio, losses, train
from tests.test_report import SECTIONS, _parse

TINY = dict(dataset="synthetic", model="simple", loss="bce", seed=0, epochs=3, batch_size=32, shuffle=True,
            optimizer="adam", learning_rate=1e-3, train_limit=128, test_limit=32)


def synthetic_split():
    return data.load("synthetic", "train", n=256), data.load("synthetic", "test", n=64)


def test_smoke_sweep_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = Path("sweep")
    assert cli.main(["run", "--profile", "smoke", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"report: {out / 'report.html'}"
    page = _parse((out / "report.html").read_text(encoding="utf-8"))  # the report of a real (smoke) sweep
    assert page.order == SECTIONS and all(len(sec["text"].split()) > 20 for sec in page.sections.values())
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(table["rows"] > 0 for table in page.tables)
    sweep = fileio.read_json(out / "sweep.json")
    runs = config.profile("smoke").runs()
    assert len(sweep["runs"]) == len(runs) and all(r["status"] == "done" for r in sweep["runs"])
    assert sum("epoch 1/1 loss" in line and "sweep ETA" in line for line in lines) == len(runs)
    run = out / runs[0].path
    for name in ("config.json", "history.json", "status.json", "model.keras", "reconstructions.npz"):
        assert (run / name).exists(), name
    assert not list(run.glob("checkpoint*"))
    recon = np.load(run / "reconstructions.npz")["recon"]
    assert recon.shape == (64, 28, 28) and recon.dtype == np.float16
    assert fileio.read_json(run / "config.json") == runs[0].to_dict()
    prov = fileio.read_json(out / "provenance.json")
    for key in ("versions", "backend", "device", "git", "command", "data", "started", "finished"):
        assert key in prov, key
    assert prov["data"]["test"]["sha256"] == data.describe("synthetic", "test").sha256
    assert prov["command"] == f"replicate run --profile smoke --out {out}"
    assert prov["fused"] is True and "trained side by side" in (out / "report.html").read_text(encoding="utf-8")
    assert fileio.read_json(out / runs[0].path / "status.json")["trained_with"] == ["mse", "ssim"]
    for path in out.rglob("*.json"):  # nothing in the tree depends on where it lives
        assert str(tmp_path) not in path.read_text() and "/usr/" not in path.read_text(), path
    # A second invocation redoes nothing.
    assert cli.main(["run", "--profile", "smoke", "--out", str(out), "--no-report"]) == 0
    assert f"({len(runs)} already done)" in capsys.readouterr().out


def test_same_config_same_numbers(tmp_path):
    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**TINY)
    first = train.train_run(cfg, tmp_path / "a", train_x, test_x)
    second = train.train_run(cfg, tmp_path / "b", train_x, test_x)
    assert first["status"] == second["status"] == "done"
    assert (tmp_path / "a/history.json").read_bytes() == (tmp_path / "b/history.json").read_bytes()
    ra, rb = (np.load(tmp_path / f"{d}/reconstructions.npz")["recon"] for d in "ab")
    np.testing.assert_array_equal(ra, rb)


def test_mixed_precision_keeps_a_float32_output(tmp_path):
    import keras

    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, "epochs": 1, "mixed_precision": True})
    assert train.train_run(cfg, tmp_path / "run", train_x, test_x)["status"] == "done"
    # The loss-scaling optimizer of mixed precision is not restored by load_model; weights and layers are.
    model = keras.models.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert model.layers[1].dtype_policy.name == "mixed_float16"
    assert model.layers[-1].dtype_policy.name == "float32" and model.output.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored for the next run
    assert np.isfinite(np.load(tmp_path / "run/reconstructions.npz")["recon"]).all()


def test_list_names_every_model_and_loss(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (*config.MODELS, *config.LOSSES):
        assert f"  {name} " in out, name
    assert "bce_kl" in out and "reported for every run, not trained" in out


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    """A run killed with SIGKILL mid-training resumes from its last epoch and ends bit-identical."""
    args = ["run", "--profile", "smoke", "--models", "conv", "--losses", "mse", "--epochs", "6",
            "--train-limit", "1024", "--no-report"]
    reference = tmp_path / "reference"
    assert cli.main([*args, "--out", str(reference)]) == 0
    out = tmp_path / "killed"
    run = out / "synthetic/conv/mse/seed0"
    proc = subprocess.Popen([sys.executable, "-m", "replicate", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoint.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / "checkpoint.json").exists() and not (run / "status.json").exists()
    done_epochs = len(fileio.read_json(run / "checkpoint.json")["histories"][0]["epoch"])
    assert 1 <= done_epochs < 6
    assert cli.main([*args, "--out", str(out)]) == 0
    assert (run / "history.json").read_bytes() == (reference / "synthetic/conv/mse/seed0/history.json").read_bytes()
    np.testing.assert_array_equal(np.load(run / "reconstructions.npz")["recon"],
                                  np.load(reference / "synthetic/conv/mse/seed0/reconstructions.npz")["recon"])


def _stop_after_first(epoch, row):
    if epoch == 1:
        raise KeyboardInterrupt


@pytest.mark.parametrize("changes", [{"model": "vae"}, {"mixed_precision": True}], ids=["vae", "mixed_precision"])
def test_interrupted_run_resumes_bit_identical(tmp_path, changes):
    """Stop after epoch 1, resume, get the same run: the checkpoint holds the VAE's sampling-noise state and the
    loss-scaling optimizer's scale and step counter as well as weights and optimizer slots."""
    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, **changes})
    train.train_run(cfg, tmp_path / "straight", train_x, test_x)
    with pytest.raises(KeyboardInterrupt):
        train.train_run(cfg, tmp_path / "resumed", train_x, test_x, on_epoch=_stop_after_first)
    assert len(fileio.read_json(tmp_path / "resumed/checkpoint.json")["histories"][0]["epoch"]) == 1
    train.train_run(cfg, tmp_path / "resumed", train_x, test_x)
    assert (tmp_path / "resumed/history.json").read_bytes() == (tmp_path / "straight/history.json").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "resumed/reconstructions.npz")["recon"],
                                  np.load(tmp_path / "straight/reconstructions.npz")["recon"])


def test_changed_settings_do_not_resume_an_old_sweep(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--out", out, "--no-report"]
    assert cli.main(base) == 0
    assert cli.main([*base, "--epochs", "2"]) == 2
    assert "holds a sweep made with other settings" in capsys.readouterr().err


def test_unreadable_path_exits_2(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path / "missing.json"), str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_nan_run_fails_and_sweep_goes_on(tmp_path, monkeypatch, capsys):
    def nan_loss(y_true, y_pred):
        return losses.mse(y_true, y_pred) * float("nan")

    monkeypatch.setitem(losses.REGISTRY, "mae", losses.Loss("mae", "NaN", "nan", "forced NaN", nan_loss,
                                                            False, True))
    out = tmp_path / "sweep"
    code = cli.main(["run", "--profile", "smoke", "--models", "simple", "--losses", "mae", "mse",
                     "--out", str(out), "--no-report"])
    assert code == cli.EXIT_FAILED_RUNS + 1
    status = fileio.read_json(out / "synthetic/simple/mae/seed0/status.json")
    assert status["status"] == "failed" and "non-finite" in status["reason"] and "epoch 1" in status["reason"]
    assert fileio.read_json(out / "synthetic/simple/mse/seed0/status.json")["status"] == "done"
    assert "1 run(s) failed" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["run", "--models", "resnet"], "invalid choice: 'resnet'"),
    (["run", "--losses", "bce_kl"], "invalid choice: 'bce_kl'"),
    (["run", "--profile", "huge"], "invalid choice: 'huge'"),
    (["run", "--seeds", "2", "--seed", "1"], "not allowed with argument"),
    (["run", "--epochs", "0"], "--epochs must be a positive integer"),
    (["run", "--seed", "1", "1"], "distinct non-negative"),
    (["evaluate", "/nonexistent"], "not a sweep folder"),
])
def test_bad_input_exits_2(argv, message, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_config_is_frozen_and_validated():
    cfg = config.RunConfig(**TINY)
    with pytest.raises(AttributeError):
        cfg.epochs = 5
    with pytest.raises(ValueError, match="valid losss|valid loss"):
        config.RunConfig(**{**TINY, "loss": "bce_kl"})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        config.RunConfig(**{**TINY, "epochs": 0})
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()


def test_quick_profile_covers_the_comparison():
    quick = config.profile("quick")
    assert quick.dataset == "fashion_mnist" and len(quick.seeds) >= 3
    for model in config.MODELS:
        assert {(model, "bce"), (model, "mse")} <= set(quick.pairs)
    for model in ("simple", "conv"):
        assert {(model, loss) for loss in config.FULL_LOSSES} <= set(quick.pairs)
    assert ("simple", "bce_kl") not in quick.pairs


def test_losses_of_one_model_and_seed_share_initialisation():
    a = config.RunConfig(**TINY)
    b = config.RunConfig(**{**TINY, "loss": "mse"})
    c = config.RunConfig(**{**TINY, "seed": 1})
    assert train.run_seed(a) == train.run_seed(b) != train.run_seed(c)


def _weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(run_dir / "model.keras", compile=False).get_weights()


@pytest.mark.parametrize("model,names", [("simple", ("bce", "mse", "ssim")), ("conv", ("mae", "ms_ssim_l1"))])
def test_fused_runs_train_as_they_would_alone(tmp_path, model, names):
    """Losses trained side by side in one model end with the weights, losses and reconstructions of solo runs."""
    train_x, test_x = synthetic_split()
    cfgs = [config.RunConfig(**{**TINY, "model": model, "loss": name, "epochs": 2}) for name in names]
    fused = train.train_runs(cfgs, [tmp_path / "fused" / c.loss for c in cfgs], tmp_path / "state", train_x, test_x)
    assert [s["status"] for s in fused] == ["done"] * len(cfgs) and not (tmp_path / "state").exists()
    for cfg, status in zip(cfgs, fused):
        alone = train.train_run(cfg, tmp_path / "alone" / cfg.loss, train_x, test_x)
        assert status["trained_with"] == [n for n in names if n != cfg.loss]
        for w_fused, w_alone in zip(_weights(tmp_path / "fused" / cfg.loss), _weights(tmp_path / "alone" / cfg.loss),
                                    strict=True):
            np.testing.assert_allclose(w_fused, w_alone, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(status["final_val_loss"], alone["final_val_loss"], rtol=1e-5)
        np.testing.assert_allclose(np.load(tmp_path / "fused" / cfg.loss / "reconstructions.npz")["recon"],
                                   np.load(tmp_path / "alone" / cfg.loss / "reconstructions.npz")["recon"], atol=1e-3)


def test_interrupted_fused_runs_resume_bit_identical(tmp_path):
    train_x, test_x = synthetic_split()
    cfgs = [config.RunConfig(**{**TINY, "loss": name}) for name in ("bce", "huber")]

    def run(name, on_epoch=None):
        return train.train_runs(cfgs, [tmp_path / name / c.loss for c in cfgs], tmp_path / name / "state",
                                train_x, test_x, on_epoch)

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


def test_models_with_a_loss_of_their_own_train_alone():
    """Keras adds a model's own loss (activity penalty, KL) to the total only, so those models are never fused."""
    from replicate import models

    for name in config.MODELS:
        built = models.build(name, seed=0)
        shape = (2, 784) if built.flat else (2, 28, 28, 1)
        built.autoencoder(np.full(shape, 0.5, dtype="float32"), training=True)
        assert bool(built.autoencoder.losses) == (name in models.OWN_LOSS), name
        cfg = config.protocol_run(name, dataset="synthetic", loss="mse", seed=0)
        assert train.fusable(cfg) == (name not in models.OWN_LOSS)
    assert not train.fusable(config.RunConfig(**{**TINY, "mixed_precision": True}))


def test_sweep_fuses_the_losses_of_a_model_and_seed():
    runs = config.override(config.profile("quick"), seeds=(0, 1)).runs()
    groups = train._groups(runs, fuse=True)
    by_key = {(g[0].model, g[0].seed): [c.loss for c in g] for g in groups if len(g) > 1}
    assert by_key[("simple", 0)] == list(config.FULL_LOSSES) and by_key[("deep", 1)] == ["bce", "mse"]
    assert all(len(g) == 1 for g in groups if g[0].model in ("sparse", "vae"))
    assert sorted(c.path for g in groups for c in g) == sorted(c.path for c in runs)
    assert all(len(g) == 1 for g in train._groups(runs, fuse=False))


def test_both_feeds_give_each_epoch_its_own_seeded_order():
    """The tf.data feed and the PyDataset feed yield the same batches: epoch e in the order permutation(seed, e)."""
    import tensorflow as tf

    train_x, test_x = synthetic_split()
    cfg = config.RunConfig(**{**TINY, "train_limit": 100, "noise_factor": 0.5})
    arrays = train.prepare(cfg, train_x, test_x, flat=True)
    tf_data, tf_epoch = train.epoch_feed(arrays, cfg, seed=7, outputs=2, backend="tensorflow")
    py_data, py_epoch = train.epoch_feed(arrays, cfg, seed=7, outputs=2, backend="jax")
    assert isinstance(tf_data, tf.data.Dataset) and len(py_data) == 4  # 3 batches of 32, then 4 images
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


def test_fused_runs_resume_after_one_of_them_failed(tmp_path, monkeypatch):
    """A run that failed stops its history early; the others resume from the epoch they reached."""
    monkeypatch.setitem(losses.REGISTRY, "mae", losses.Loss("mae", "NaN", "nan", "forced NaN",
                                                            lambda a, x: losses.mse(a, x) * float("nan"), False, True))
    train_x, test_x = synthetic_split()
    cfgs = [config.RunConfig(**{**TINY, "loss": name}) for name in ("mae", "mse")]

    def stop_after_second(epoch, rows):
        if epoch == 2:
            raise KeyboardInterrupt

    dirs = [tmp_path / c.loss for c in cfgs]
    with pytest.raises(KeyboardInterrupt):
        train.train_runs(cfgs, dirs, tmp_path / "state", train_x, test_x, stop_after_second)
    statuses = train.train_runs(cfgs, dirs, tmp_path / "state", train_x, test_x)
    assert statuses[0]["status"] == "failed" and "epoch 1" in statuses[0]["reason"]
    assert statuses[1]["status"] == "done" and fileio.read_json(dirs[1] / "history.json")["epoch"] == [1, 2, 3]
