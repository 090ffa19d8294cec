"""The tutorial scripts: each section's model is the package's, layer for layer; its visible ``fit`` trains
the run the package's runner would; and each script runs end to end in ``--quick`` mode as a user would start it
(``python tutorials/NN_name.py --quick --out DIR`` from the repository root, in its own process), exits 0, says
that it is quick, prints the post's reported number where the post has one, and writes its figures and its run.

The reported numbers below are the post's, as recorded with their quotes in ``replicate.tutorial.REPORTED``
(current version of "Building Autoencoders in Keras"); the code means 3.33 and 7.30 are from its sparsity
section. Quick mode trains a few epochs on 1,024 synthetic images, so only the wiring is checked here. The
default suite starts one script in its own process and runs every line of the others inside the test process
(two epochs each, no interpreter or Keras start-up); every script in its own process is a `slow` test.
"""
from __future__ import annotations

import ast
import os
import runpy
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from replicate import config, fileio, losses, models, train
from tests.noise import noise
from tests.runs import TINY, synthetic_split

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"

#: Each section's script and the model key of :func:`replicate.models.build` it writes out.
SECTIONS = {"01_simple.py": "simple", "02_sparse.py": "sparse", "03_deep.py": "deep",
            "04_convolutional.py": "conv", "05_denoising.py": "denoising", "06_vae.py": "vae"}
#: The artifacts of a run, as the runner writes them.
RUN_FILES = {"config.json", "history.json", "status.json", "reconstructions.npz", "model.keras"}
#: Layer settings that do not change the function a model computes or how it trains here: names, the dtype
#: policy (float32 throughout), and the initialisers and seeds the run's numpy draw replaces.
IGNORED = {"name", "dtype", "trainable", "kernel_initializer", "bias_initializer", "seed"}

#: script -> (extra arguments, strings its output must contain, files it must write in --out)
CASES = {
    "01_simple.py": ([], ["about 0.09", "train loss", "validation loss"],
                     ["01_simple_reconstructions_synthetic_bce.png"]),
    "02_sparse.py": ([], ["0.11 (train", "0.10 (test", "Mean code activation", "3.33", "7.30"],
                     ["02_sparse_reconstructions_synthetic_bce.png"]),
    "03_deep.py": ([], ["0.08 (train/val"], ["03_deep_reconstructions_synthetic_bce.png"]),
    "04_convolutional.py": ([], ["0.094 (train/test", "Code shape per image: (4, 4, 8)"],
                            ["04_conv_reconstructions_synthetic_bce.png", "04_conv_codes_synthetic_bce.png"]),
    "05_denoising.py": ([], ["no loss value", "RMSE to the clean test images"],
                        ["05_denoising_synthetic_bce.png"]),
    "06_vae.py": ([], ["no loss value", "z_mean over the test set"],
                  ["06_vae_reconstructions_synthetic_bce.png", "06_vae_latent_synthetic_bce.png",
                   "06_vae_manifold_synthetic_bce.png"]),
    # Two losses instead of seven keep this test short; the other losses have their own tests.
    "07_loss_comparison.py": (["--losses", "mse"], ["Midtone RMSE per loss", "bce", "mse", "over 1 seed",
                                                    "simple, 1 seed: BCE − MSE midtone RMSE", "Report:"],
                              ["07_loss_comparison_simple_synthetic.html"]),
}


def _run(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # The script's folder comes first on its sys.path; PYTHONPATH makes it import this checkout's package.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    inherited = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env = {**inherited, "PYTHONPATH": path, **(env or {})}
    return subprocess.run([sys.executable, str(TUTORIALS / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _run_here(script: str, *args: str, monkeypatch, capsys) -> tuple[int, str, str]:
    """The script run in this process, as ``python tutorials/<script> ARGS`` would run it: exit status, stdout,
    stderr. No interpreter and Keras start-up per script; every line of the script still runs."""
    import keras

    monkeypatch.syspath_prepend(str(TUTORIALS))
    monkeypatch.delitem(sys.modules, "common", raising=False)  # another folder's common.py (benchmarks/)
    # The loss comparison's sweep trains on this process's backend too, so no second process starts for JAX.
    monkeypatch.setattr(config, "backend_for", lambda model, choice="auto": keras.backend.backend())
    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())  # the runner sets it; it is restored after
    monkeypatch.setattr(sys, "argv", [str(TUTORIALS / script), *args])
    capsys.readouterr()
    try:
        runpy.run_path(str(TUTORIALS / script), run_name="__main__")
        code = 0
    except SystemExit as exit_:
        code = 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
    out, err = capsys.readouterr()
    return code, out, err


def test_every_script_is_tested():
    scripts = sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py"))
    assert scripts == sorted(CASES)


def _check_quick_run(script: str, code: int, stdout: str, stderr: str, out: Path) -> None:
    """What a ``--quick`` run of ``script`` into ``out`` must have printed and written."""
    _, expected, files = CASES[script]
    assert code == 0, stdout[-2000:] + stderr[-4000:]
    assert "QUICK MODE" in stdout
    assert "The full run (no --quick)" in stdout
    for text in expected:
        assert text in stdout, f"{script} did not print {text!r}:\n{stdout}"
    for name in files:
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, f"{script} did not write {name}"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((out / "runs").rglob("status.json")), "no run folder under <out>/runs"
    if script in SECTIONS:  # a section's run holds the runner's artifacts, and what started it
        run_dir = out / "runs" / "synthetic" / SECTIONS[script] / "bce" / "seed0"
        assert {p.name for p in run_dir.iterdir()} == {*RUN_FILES, "provenance.json"}
        cfg = fileio.read_json(run_dir / "config.json")
        assert cfg["backend"] == fileio.read_json(run_dir / "status.json")["backend"] in config.BACKENDS
        prov = fileio.read_json(run_dir / "provenance.json")
        assert prov["command"].startswith(f"{script} --quick") and prov["run_seed"] == train.run_seed(
            config.RunConfig(**cfg))


#: The script the default suite starts as a user would; the others' own processes are `slow` (run with -m slow).
STARTED = "01_simple.py"


@pytest.mark.parametrize("script", [pytest.param(s, marks=() if s == STARTED else pytest.mark.slow)
                                    for s in sorted(CASES)])
def test_quick_mode_runs_end_to_end(script, tmp_path):
    """The script started in its own process, as a user starts it: exits 0, prints no library log or error."""
    done = _run(script, "--quick", "--out", str(tmp_path), *CASES[script][0])
    assert not noise(done.stdout + done.stderr), f"{script} printed a library's log or an error:\n{done.stderr}"
    _check_quick_run(script, done.returncode, done.stdout, done.stderr, tmp_path)


@pytest.mark.parametrize("script", sorted(set(CASES) - {STARTED}))
def test_quick_mode_runs_every_line(script, tmp_path, monkeypatch, capsys):
    """Every other script in --quick mode, in this process and with two epochs per model (the loss comparison
    keeps its quick epochs: after two, every run is screened out and there is nothing to compare; and it trains on
    this process's backend, not in a JAX child). Python's output is checked for errors here; logs that libraries
    write to the process's stderr directly are checked where a script starts in its own process."""
    epochs = [] if script == "07_loss_comparison.py" else ["--epochs", "2"]
    code, stdout, stderr = _run_here(script, "--quick", "--out", str(tmp_path), *CASES[script][0], *epochs,
                                     monkeypatch=monkeypatch, capsys=capsys)
    assert not noise(stdout + stderr), f"{script} printed an error or a warning:\n{stderr}"
    _check_quick_run(script, code, stdout, stderr, tmp_path)


def test_nothing_to_compare_exits_2_with_the_reason(tmp_path, monkeypatch, capsys):
    """The loss comparison after one epoch: its runs are screened out, and it says so instead of a traceback."""
    code, stdout, stderr = _run_here("07_loss_comparison.py", "--quick", "--losses", "mse", "--epochs", "1",
                                     "--out", str(tmp_path), monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2, stdout + stderr
    assert stderr.strip() == ("error: none of the 2 runs is usable (0 failed, 2 screened out; their status.json "
                              "says why), so there is nothing to compare. Train longer (--epochs more than 1).")
    assert "Report:" not in stdout and not (tmp_path / "07_loss_comparison_simple_synthetic.html").exists()


def test_the_loss_comparison_called_again_with_other_losses_trains_them_apart(tmp_path, monkeypatch, capsys):
    """Other --losses into the same --out go to a folder of their own (no refusal, nothing deleted); the same
    ones again reuse their finished runs."""
    args = ("--quick", "--epochs", "1", "--out", str(tmp_path))
    for losses in (["mse"], ["mae"], ["mse"]):
        code, stdout, stderr = _run_here("07_loss_comparison.py", *args, "--losses", *losses,
                                         monkeypatch=monkeypatch, capsys=capsys)
        assert code == 2 and "there is nothing to compare" in stderr, stdout + stderr  # one epoch: screened out
    assert "(2 already done)" in stdout and len(list((tmp_path / "runs").iterdir())) == 2


@pytest.mark.parametrize("dataset", [["--dataset", "mnist"], []], ids=["named", "the default"])
def test_unreadable_dataset_exits_2_with_the_fix(tmp_path, monkeypatch, capsys, dataset):
    """A damaged local MNIST file is refused before any training, with the data module's explanation; by default
    too, where the script would otherwise fall back to the 10,000 digits."""
    (tmp_path / "mnist.npz").write_bytes(b"not an npz archive")
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(tmp_path))
    code, stdout, stderr = _run_here("01_simple.py", *dataset, "--out", str(tmp_path / "out"),
                                     monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2, stdout + stderr
    assert "mnist.npz" in stderr and "cannot be read" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out" / "runs").exists()


def _build_model(script: str, monkeypatch):
    """The script's ``build_model``, without running its story (which trains): only its imports and function
    definitions are executed."""
    monkeypatch.syspath_prepend(str(TUTORIALS))  # for ``import common``, as when the script runs
    path = TUTORIALS / script
    tree = ast.parse(path.read_text(), str(path))
    tree.body = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    namespace = {"__name__": path.stem}
    exec(compile(tree, str(path), "exec"), namespace)
    return namespace["build_model"]


def _layers(model) -> list:
    """The model's layers in order, nested models opened."""
    import keras

    return [inner for layer in model.layers
            for inner in (_layers(layer) if isinstance(layer, keras.Model) else [layer])]


def _describe(model) -> list[tuple]:
    """Per layer: its class, the settings that matter, and its weight shapes."""
    return [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k not in IGNORED},
             [tuple(w.shape) for w in layer.weights]) for layer in _layers(model)]


@pytest.mark.parametrize("script", sorted(SECTIONS))
def test_each_scripts_model_is_the_librarys(script, monkeypatch):
    """Same layer classes, settings (units, filters, kernel sizes, padding, activations, regularisers ...), weight
    shapes in the same order (so the run's seeded numpy draw gives both the same weights) and parameter count, for
    the autoencoder, its logits and the encoder and decoder."""
    mine = _build_model(script, monkeypatch)()
    library = models.build(SECTIONS[script])
    assert (mine.flat, mine.code_shape) == (library.flat, library.code_shape)
    for part in ("autoencoder", "logits", "encoder", "decoder"):
        ours, theirs = getattr(mine, part), getattr(library, part)
        assert (ours is None) == (theirs is None), part
        if ours is None:
            continue
        assert _describe(ours) == _describe(theirs), f"{script}: {part}"
        assert ours.count_params() == theirs.count_params(), f"{script}: {part}"
        assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert mine.autoencoder.name == SECTIONS[script]  # the runner finds the VAE by its name


def _tiny_fit(cfg, run_dir, on_epoch=None, **changes) -> dict:
    """What a script does for ``cfg``: seed, build and compile the model, prepare the arrays, call train.fit."""
    seed = train.run_seed(cfg)
    train.seed_everything(seed)
    built = models.vae(seed) if cfg.model == "vae" else models.build(cfg.model)  # weights: drawn by train.fit
    built.logits.compile(optimizer=changes.pop("optimizer", "adam"),
                         loss=changes.pop("loss", losses.ReconstructionLoss(cfg.loss, models.loss_scale(cfg.model))))
    arrays = train.prepare(cfg, *synthetic_split(), built.flat)
    fit_args = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "shuffle": cfg.shuffle,
                "validation_data": (arrays.x_test, arrays.y_test), **changes}
    return train.fit(cfg, run_dir, built, arrays.x_train, arrays.y_train, on_epoch=on_epoch, **fit_args)


@pytest.mark.parametrize("model", ["simple", "vae"])
def test_a_scripts_fit_is_the_runners_run(tmp_path, model):
    """train.fit on a model built outside the package gives the run train_one gives: same history (bit for bit),
    reconstructions and artifacts. It adds no training logic of its own."""
    cfg = config.RunConfig(**{**TINY, "model": model})
    assert _tiny_fit(cfg, tmp_path / "fit")["status"] == "done"
    train.train_one(cfg, tmp_path / "runner", *synthetic_split())
    assert {p.name for p in (tmp_path / "fit").iterdir()} == RUN_FILES
    for name in ("config.json", "history.json"):
        assert (tmp_path / "fit" / name).read_bytes() == (tmp_path / "runner" / name).read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "fit/reconstructions.npz")["recon"],
                                  np.load(tmp_path / "runner/reconstructions.npz")["recon"])


def test_an_interrupted_fit_resumes_bit_identical(tmp_path):
    cfg = config.RunConfig(**TINY)
    _tiny_fit(cfg, tmp_path / "straight")

    def stop_after_first(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _tiny_fit(cfg, tmp_path / "resumed", stop_after_first)
    assert fileio.read_json(tmp_path / "resumed/checkpoint.json")["epochs"] == 1
    _tiny_fit(cfg, tmp_path / "resumed")
    assert (tmp_path / "resumed/history.json").read_bytes() == (tmp_path / "straight/history.json").read_bytes()


@pytest.mark.parametrize("changes,named", [
    ({"batch_size": 64}, "batch_size 64 where the run's config has 32"),
    ({"epochs": 4}, "epochs 4 where the run's config has 3"),
    ({"shuffle": False}, "shuffle False"),
    ({"optimizer": "adadelta"}, "optimizer 'adadelta'"),
    ({"loss": "binary_crossentropy"}, "loss 'binary_crossentropy'"),
    ({"loss": losses.ReconstructionLoss("bce", 784.0)}, "loss scale 784.0"),
], ids=["batch_size", "epochs", "shuffle", "optimizer", "loss", "loss_scale"])
def test_fit_refuses_what_the_config_does_not_say(tmp_path, changes, named):
    """config.json must say what was trained: a fit argument, optimizer or loss that differs is refused, named."""
    with pytest.raises(ValueError, match=named):
        _tiny_fit(config.RunConfig(**TINY), tmp_path / "run", **changes)
    assert not (tmp_path / "run").exists()


def test_a_tutorial_compares_each_reported_number_with_what_the_replication_table_does(capsys):
    """The sparse model's test loss is compared without its L1 penalty (Keras 1 left it out), as in results.json."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tutorials_common", TUTORIALS / "common.py")  # not benchmarks'
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    cfg = types.SimpleNamespace(model="sparse", loss="bce", dataset="mnist10k")  # the fields it reads
    status = {"epoch": 735, "wall_s": 1.0, "final_loss": 0.1120, "final_val_loss": 0.0986,
              "test_reconstruction_loss": 0.0945}
    common.print_measured_vs_reported(cfg, status, quick=False)
    out = capsys.readouterr().out
    assert "the post reports 0.11 (train" in out and "this run's final train loss differs from it by +0.002" in out
    assert "the post reports 0.10 (test" in out and "test loss without the penalty differs from it by -0.006" in out
