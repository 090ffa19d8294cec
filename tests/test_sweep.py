"""A sweep of runs: resume after a kill, changed settings refused, failed runs recorded, units of work."""
import signal
import subprocess
import sys
import time

import numpy as np

from replicate import cli, config, fileio, losses, sweep


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    """A run killed with SIGKILL mid-training resumes from its last epoch and ends bit-identical."""
    args = ["run", "--profile", "smoke", "--models", "conv", "--losses", "bce", "--epochs", "6",
            "--train-limit", "1024", "--no-report"]
    reference = tmp_path / "reference"
    assert cli.main([*args, "--out", str(reference)]) == 0
    out = tmp_path / "killed"
    run = out / "synthetic/conv/bce/seed0"
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
    assert (run / "history.json").read_bytes() == (reference / "synthetic/conv/bce/seed0/history.json").read_bytes()
    np.testing.assert_array_equal(np.load(run / "reconstructions.npz")["recon"],
                                  np.load(reference / "synthetic/conv/bce/seed0/reconstructions.npz")["recon"])


def test_changed_settings_do_not_resume_an_old_sweep(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--out", out, "--no-report"]
    assert cli.main(base) == 0
    assert cli.main([*base, "--epochs", "2"]) == 2
    assert "holds a sweep made with other settings" in capsys.readouterr().err


def test_nan_run_fails_and_sweep_goes_on(tmp_path, monkeypatch, capsys):
    def nan_loss(y_true, y_pred):
        return losses.mse(y_true, y_pred) * float("nan")

    monkeypatch.setitem(losses.REGISTRY, "mae", losses.Loss("mae", nan_loss))
    out = tmp_path / "sweep"
    code = cli.main(["run", "--profile", "smoke", "--models", "simple", "--losses", "mae", "mse",
                     "--backend", "tensorflow", "--out", str(out), "--no-report"])  # in this process: the patch holds
    assert code == cli.EXIT_FAILED_RUNS + 1
    status = fileio.read_json(out / "synthetic/simple/mae/seed0/status.json")
    assert status["status"] == "failed" and "non-finite" in status["reason"] and "epoch 1" in status["reason"]
    assert fileio.read_json(out / "synthetic/simple/mse/seed0/status.json")["status"] == "done"
    captured = capsys.readouterr()
    assert "2 runs: 1 usable, 1 failed, 0 screened out" in captured.out
    assert "1 run(s) are not usable evidence" in captured.err


def test_sweep_fuses_the_losses_of_a_model_and_seed():
    runs = config.override(config.profile("quick"), seeds=(0, 1)).runs()
    groups = sweep.units_of_work(runs, fuse=True)
    by_key = {(g[0].model, g[0].seed): [c.loss for c in g] for g in groups if len(g) > 1}
    assert by_key[("simple", 0)] == list(config.COMPARED_LOSSES) and by_key[("deep", 1)] == ["bce", "mse"]
    assert all(len(g) == 1 for g in groups if g[0].model in ("sparse", "vae"))
    assert sorted(c.path for g in groups for c in g) == sorted(c.path for c in runs)
    assert all(len(g) == 1 for g in sweep.units_of_work(runs, fuse=False))
