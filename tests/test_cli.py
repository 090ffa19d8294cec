"""The command line end to end on synthetic data: a smoke sweep with its report, listing, bad input."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from replicate import cli, config, data, fileio
from replicate import sweep as sweep_mod
from replicate.lock import SweepLock
from tests.html_page import SECTIONS, parse
from tests.noise import noise

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("models", [("sparse", "conv"), pytest.param(None, marks=pytest.mark.slow)],
                         ids=["sparse and conv", "every model"])
def test_smoke_sweep_end_to_end(tmp_path, capfd, monkeypatch, models):
    """The smoke sweep end to end, started as a user starts it (its own process: JAX in it, TensorFlow in a child),
    prints nothing that looks like an error or a library's log; MSE through a sigmoid can leave a convolutional
    model's outputs dead at 0 within its few steps, and such runs are screened out: the exit status and the summary
    line count them. The default suite trains two of its models, sparse (each loss alone) and conv (its losses
    side by side); all six are `slow`."""
    monkeypatch.chdir(tmp_path)
    out = Path("sweep")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the log levels a user gets
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    chosen = ["--models", *models] if models else []
    command = ["run", "--profile", "smoke", *chosen, "--out", str(out)]
    done = subprocess.run([sys.executable, "-m", "replicate", *command], env=env, capture_output=True, text=True,
                          timeout=600)
    assert not noise(done.stdout + done.stderr), done.stdout[-2000:] + done.stderr[-4000:]
    code, lines = done.returncode, done.stdout.splitlines()
    results = fileio.read_json(out / "results.json")
    screened = len(results["screened"])
    assert code == (cli.EXIT_FAILED_RUNS + screened if screened else 0) and not results["missing"]
    planned = config.profile("smoke") if models is None else config.override(config.profile("smoke"), models=models)
    n = len(planned.runs())
    assert n == (13 if models is None else 4)
    assert lines[-1] == f"{n} runs: {n - screened} usable, 0 failed, {screened} screened out (collapsed or diverged)"
    assert lines[-2] == f"report: {out / 'report.html'}"
    page = parse((out / "report.html").read_text(encoding="utf-8"))  # the report of a real (smoke) sweep
    assert page.order == SECTIONS and all(len(sec["text"].split()) > 20 for sec in page.sections.values())
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(table["rows"] > 0 for table in page.tables)
    sweep = fileio.read_json(out / "sweep.json")
    runs = config.sweep_from_dict(sweep["config"]).runs()  # limits as large as the data are recorded as None: all
    assert sweep["config"]["train_limit"]["simple"] is None and len(runs) == n
    assert len(sweep["runs"]) == len(runs) and all(sweep_mod.run_status(out / r["path"]) == "done" for r in sweep["runs"])
    assert sum(" loss " in line and " ETA " in line for line in lines) == len(runs)
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
    assert prov["command"] == " ".join(["replicate", *command])
    assert prov["backend"] == "jax and tensorflow"  # the backends it trains on, in sweep order
    assert prov["fused"] is True and "trained side by side" in (out / "report.html").read_text(encoding="utf-8")
    conv_bce = next(r for r in runs if (r.model, r.loss) == ("conv", "bce"))
    assert fileio.read_json(out / conv_bce.path / "status.json")["trained_with"] == ["mse"]
    for path in out.rglob("*.json"):  # nothing in the tree depends on where it lives
        assert str(tmp_path) not in path.read_text() and "/usr/" not in path.read_text(), path
    # A second invocation redoes nothing.
    assert cli.main([*command, "--no-report"]) == code
    assert f"({len(runs)} already done)" in capfd.readouterr().out


def test_list_names_every_model_and_loss(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (*config.MODELS, *config.LOSSES):
        assert f"  {name} " in out, name
    assert "bce_kl" in out and "reported for every run, not trained" in out


def test_unreadable_path_exits_2_and_says_what_to_pass(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path / "missing.json"), str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "missing.json cannot be read (No such file or directory); pass the results.json of a sweep" in err
    assert cli.main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "cannot be read (Is a directory); pass the results.json" in capsys.readouterr().err
    assert cli.main(["summary", str(tmp_path / "missing.json")]) == 2
    assert "missing.json does not exist; pass the results.json of a sweep" in capsys.readouterr().err
    assert cli.main(["summary", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder; pass the results.json of a sweep" in capsys.readouterr().err


def test_the_tutorial_profile_without_full_mnist_exits_2_instead_of_training_on_the_10000_digits(
        tmp_path, monkeypatch, capsys):
    """The post's protocol needs the post's data: on the 10,000 digits its epochs would be a seventh of its steps."""
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (_ for _ in ()).throw(Exception("offline")))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--profile", "tutorial", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "no local copy of mnist was found" in err and "mnist.npz" in err and "mnist10k" not in err


@pytest.mark.parametrize("argv,message", [
    (["run", "--models", "resnet"], "invalid choice: 'resnet'"),
    (["run", "--losses", "bce_kl"], "invalid choice: 'bce_kl'"),
    (["run", "--profile", "huge"], "invalid choice: 'huge'"),
    (["run", "--seeds", "2", "--seed", "1"], "not allowed with argument"),
    (["run", "--epochs", "0"], "argument --epochs: epochs must be a positive integer, got 0"),
    (["run", "--seeds", "0"], "argument --seeds: the number of seeds must be a positive integer, got 0"),
    (["run", "--test-limit", "-3"], "argument --test-limit: test_limit must be a positive integer, got -3"),
    (["run", "--margin", "2"], "argument --margin: the equivalence margin, relative to MSE's mean, must be a fraction"),
    (["run", "--margin", "x"], "argument --margin: invalid float value: 'x'"),
    (["run", "--seed", "1", "1"], "seeds must be distinct non-negative integers, got [1, 1]"),
    (["run", "--seed", "-1"], "seeds must be distinct non-negative integers, got [-1]"),
    (["run", "--profile", "replication", "--seed", "3", "3", "--data-dir", "/nonexistent"],
     "seeds must be distinct non-negative integers, got [3, 3]"),  # told before the data are looked for
    (["evaluate", "/nonexistent"], "not a sweep folder"),
])
def test_bad_input_exits_2(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_evaluate_exits_3_naming_the_runs_left_out_and_0_once_every_run_has_finished(tmp_path, capsys):
    """The merge command ``evaluate && report`` must not report a sweep whose runs are still training; a finished
    sweep is reported with its failed runs listed, as ``replicate run`` reports it."""
    from tests.fake_sweep import write_fake_sweep

    root = write_fake_sweep(tmp_path / "sweep", seeds=(0, 1, 2), missing=[("simple", "mse", 2)],
                            failed=[("simple", "bce", 1)])
    assert cli.main(["evaluate", str(root)]) == cli.EXIT_UNFINISHED
    err = capsys.readouterr().err
    assert "2 run(s) are not in the results (1 failed, 1 pending)" in err and "evaluate again" in err
    failed = write_fake_sweep(tmp_path / "failed", seeds=(0, 1), failed=[("simple", "bce", 1)])  # finished
    assert cli.main(["evaluate", str(failed)]) == 0
    err = capsys.readouterr().err
    assert "1 run(s) are not in the results (1 failed)" in err and "evaluate again" not in err
    full = write_fake_sweep(tmp_path / "full", seeds=(0, 1), constant=[("simple", "bce", 0)])  # screened: in
    assert cli.main(["evaluate", str(full)]) == 0
    assert capsys.readouterr().err == ""
    with SweepLock(failed, 2, 3):  # a process retrains its failed run now: they may still be retried
        assert cli.main(["evaluate", str(failed)]) == cli.EXIT_UNFINISHED
    err = capsys.readouterr().err
    assert f"is still being written by process {os.getpid()}" in err
    assert f"as shard 2/3 (lock {failed / '.locks' / 'shard-2-of-3.json'})" in err and "delete its lock" in err


def test_ctrl_c_during_a_sweep_exits_130_saying_how_to_resume(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "run_sweep", interrupted)
    assert cli.main(["run", "--profile", "smoke", "--out", str(tmp_path / "out")]) == 130
    assert "interrupted: finished runs and epochs are saved; run the same command again" in capsys.readouterr().err


@pytest.mark.parametrize("bad,status", [(0, 0), (1, 101), (25, 125), (40, 125)])
def test_runs_not_usable_give_100_plus_n_below_the_statuses_of_signals(tmp_path, bad, status, capsys):
    counts = {"runs": 50, "usable": 50 - bad, "failed": bad // 2, "screened": bad - bad // 2, "pending": 0}
    assert cli._finish(tmp_path, counts, report=False) == status  # 130 would read as an interruption
