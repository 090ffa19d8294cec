"""A sweep of runs: resume after a kill, changed settings refused, failed runs recorded, units of work."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from replicate import cli, config, fileio, losses, sweep
from replicate import lock as lock_mod


@pytest.mark.slow  # the kills at chosen instants below, and the resumes in test_train.py, cover it in the suite
def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    """A conv run (TensorFlow's feed) killed with SIGKILL mid-training resumes from its last epoch and ends
    bit-identical."""
    args = ["run", "--profile", "smoke", "--models", "conv", "--losses", "bce", "--epochs", "6",
            "--train-limit", "1024", "--no-report"]
    reference = tmp_path / "reference"
    expected = cli.main([*args, "--out", str(reference)])
    assert expected in (0, cli.EXIT_FAILED_RUNS + 1)  # six epochs may leave it screened; resuming is what is tested
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
    assert cli.main([*args, "--out", str(out)]) == expected
    ref = reference / "synthetic/conv/bce/seed0"
    assert (run / "history.json").read_bytes() == (ref / "history.json").read_bytes()
    np.testing.assert_array_equal(np.load(run / "reconstructions.npz")["recon"],
                                  np.load(ref / "reconstructions.npz")["recon"])


def test_changed_settings_do_not_resume_an_old_sweep(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "2", "--out", out, "--no-report"]
    assert finished(cli.main(base))
    assert cli.main([*base, "--epochs", "3"]) == 2
    assert "holds a sweep made with other settings" in capsys.readouterr().err


def test_nan_run_fails_and_sweep_goes_on(tmp_path, monkeypatch, capsys):
    def nan_loss(y_true, y_pred):
        return losses.mse(y_true, y_pred) * float("nan")

    monkeypatch.setitem(losses.REGISTRY, "mae", losses.Loss("mae", nan_loss))
    out = tmp_path / "sweep"
    code = cli.main(["run", "--profile", "smoke", "--models", "simple", "--losses", "mae", "mse", "--epochs", "3",
                     "--backend", "tensorflow", "--out", str(out), "--no-report"])  # in this process: the patch holds
    status = fileio.read_json(out / "synthetic/simple/mae/seed0/status.json")
    assert status["status"] == "failed" and "non-finite" in status["reason"] and "epoch 1" in status["reason"]
    mse = fileio.read_json(out / "synthetic/simple/mse/seed0/status.json")
    assert mse["status"] == "done" and mse["epoch"] == 3  # trained on, side by side, after its neighbour failed
    screened = int(mse["screen"]["verdict"] != "usable")  # likely after so few steps
    assert code == cli.EXIT_FAILED_RUNS + 1 + screened
    captured = capsys.readouterr()
    assert f"2 runs: {1 - screened} usable, 1 failed, {screened} screened out" in captured.out
    assert f"{1 + screened} run(s) are not usable evidence" in captured.err


def _fail_checkpoint_of_epoch_2(monkeypatch, error: BaseException, calls: list | None = None):
    """Make saving the checkpoint after epoch 2 raise ``error`` (recording each epoch saved in ``calls``); return
    the real function, to put back."""
    from replicate import train

    real = train._checkpoint

    def failing(*args, **kwargs):
        if calls is not None:
            calls.append(args[-1])
        if args[-1] == 2:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "_checkpoint", failing)
    return real


#: A one-model sweep run in this process (so a patch holds), three short epochs.
_SHORT = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--epochs", "3", "--backend",
          "tensorflow", "--train-limit", "256", "--no-report"]


def test_an_io_failure_ends_the_command_with_exit_2_and_keeps_the_finished_epochs(tmp_path, monkeypatch, capsys):
    """A full disk is not the run's fault: the command stops with exit 2 and the error, the run is not marked
    failed (which would discard it on the next command), and its checkpointed epoch is kept for the rerun."""
    from replicate import train

    calls = []
    real = _fail_checkpoint_of_epoch_2(monkeypatch, OSError(28, "No space left on device"), calls)
    out = tmp_path / "sweep"
    argv = [*_SHORT, "--out", str(out)]
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "No space left on device" in capsys.readouterr().err
    run = out / "synthetic/simple/mse/seed0"
    assert sweep.run_status(run) == "pending"
    assert fileio.read_json(run / "checkpoint.json")["epochs"] == 1
    monkeypatch.setattr(train, "_checkpoint", real)
    assert cli.main(argv) in (0, cli.EXIT_FAILED_RUNS + 1)  # 3 short epochs may leave it screened
    assert calls == [1, 2] and len(fileio.read_json(run / "history.json")["loss"]) == 3
    prov = fileio.read_json(out / "provenance.json")  # the resumed run names the process that started it
    assert fileio.read_json(run / "status.json")["process"] == prov["earlier"][-1]["process"] != prov["process"]


def test_a_run_resumed_from_a_checkpoint_of_an_older_version_names_no_process(tmp_path, monkeypatch, capsys):
    """Which process started it is unknown (the checkpoint has no id), so its process is found by order."""
    from replicate import train

    real = _fail_checkpoint_of_epoch_2(monkeypatch, OSError(28, "No space left on device"))
    out = tmp_path / "sweep"
    argv = [*_SHORT, "--out", str(out)]
    assert cli.main(argv) == cli.EXIT_USAGE
    run = out / "synthetic/simple/mse/seed0"
    saved = fileio.read_json(run / "checkpoint.json")
    saved.pop("process")
    fileio.write_json(run / "checkpoint.json", saved)
    monkeypatch.setattr(train, "_checkpoint", real)
    assert cli.main(argv) in (0, cli.EXIT_FAILED_RUNS + 1)
    assert "process" not in fileio.read_json(run / "status.json")


def test_a_shard_stopped_for_good_by_its_scheduler_keeps_its_epochs(tmp_path, monkeypatch):
    """submitit ends a shard at its last time limit by raising UncompletedJobError inside the training: the run is
    not marked failed (which would discard its checkpoint on the next command)."""
    from submitit.core.utils import UncompletedJobError

    from replicate import train

    real = _fail_checkpoint_of_epoch_2(monkeypatch, UncompletedJobError("Job not requeued because: timed-out too "
                                                                         "many times."))
    cfg = config.override(config.profile("smoke"), models=["simple"], losses=["mse"], epochs=3, train_limit=256,
                          backend="tensorflow")
    with pytest.raises(UncompletedJobError):
        sweep.run_sweep(cfg, tmp_path, log=lambda line: None)
    run = tmp_path / "synthetic/simple/mse/seed0"
    assert sweep.run_status(run) == "pending" and fileio.read_json(run / "checkpoint.json")["epochs"] == 1

    def stopped_while_restoring(*args, **kwargs):  # the signal may come while the checkpoint is read back
        raise UncompletedJobError("Job not requeued because: timed-out too many times.")

    monkeypatch.setattr(train, "_checkpoint", real)
    monkeypatch.setattr(train.fileio, "read_npz", stopped_while_restoring)
    with pytest.raises(UncompletedJobError):
        sweep.run_sweep(cfg, tmp_path, log=lambda line: None)
    assert fileio.read_json(run / "checkpoint.json")["epochs"] == 1 and list(run.glob("checkpoint-e1.npz"))


def test_a_worker_with_an_io_failure_says_it_once_and_exits_2(tmp_path, monkeypatch, capsys):
    """The child that trains the other backend's runs: the error without a traceback, and a status its parent
    reports (exit 3, "run the same command again")."""
    cfg = config.override(config.profile("smoke"), models=["conv"], losses=["mse"])
    sweep.write_sweep(tmp_path, cfg)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sweep, "train_units", disk_full)
    assert sweep._worker([str(tmp_path), "--units", json.dumps([[cfg.runs()[0].path]])]) == 2
    assert capsys.readouterr().err == "replicate run: error: [Errno 28] No space left on device\n"


def test_a_process_that_trains_on_jax_never_loads_tensorflow_and_compiles_a_step_once(tmp_path):
    """Planning a sweep loads no Keras, so the process can take the first backend it trains on; on JAX it keeps
    TensorFlow out (Keras would load it to seed it and to save a model), and saves the model all the same. Its
    compiled steps are kept in the sweep folder, where the second seed finds the first seed's (every compiled
    function is kept here, not only those that took a second)."""
    code = ("import sys, json; from replicate import cli; "
            f"cli.main(['run', '--profile', 'smoke', '--models', 'simple', '--losses', 'mse', '--epochs', '1', "
            f"'--seeds', '2', '--backend', 'jax', '--train-limit', '256', '--out', {str(tmp_path / 'sweep')!r}, "
            "'--no-report']); "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax'})))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_BACKEND", "JAX_"))}
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert done.returncode == 0 and json.loads(done.stdout.splitlines()[-1]) == ["jax", "keras"], done.stderr[-2000:]
    assert (tmp_path / "sweep/synthetic/simple/mse/seed1/model.keras").exists()
    assert fileio.read_json(tmp_path / "sweep/provenance.json")["backend"] == "jax"
    assert len(list((tmp_path / "sweep/.cache/jax").glob("jit_train_step-*"))) == 1


def test_the_compilation_cache_is_the_sweeps_unless_the_user_set_one(tmp_path):
    """While a sweep trains, JAX's compiled steps go to its folder (one that the user set wins); afterwards the
    process has no cache, so the next sweep in it writes to its own folder, not to the first's (perhaps deleted)."""
    import jax
    import jax.numpy as jnp

    min_time = jax.config.jax_persistent_cache_min_compile_time_secs
    try:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # keep even these quick compilations
        for name, k in (("first", 2.0), ("second", 3.0)):
            with sweep._compilation_cache(tmp_path / name):
                assert jax.config.jax_compilation_cache_dir == str(tmp_path / name / ".cache/jax")
                jax.jit(lambda x, k=k: x * k + 1)(jnp.ones(3)).block_until_ready()
            assert jax.config.jax_compilation_cache_dir is None
            assert len(list((tmp_path / name / ".cache/jax").glob("jit__lambda-*"))) == 1, name
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
        with sweep._compilation_cache(tmp_path / "third"):
            assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
    finally:
        jax.config.update("jax_compilation_cache_dir", None)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", min_time)
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()


def test_tensorflow_is_kept_out_while_jax_trains_and_only_where_it_was_not_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    with sweep._backend_only("jax"):
        with pytest.raises(ImportError):
            import tensorflow  # noqa: F401
    assert "tensorflow" not in sys.modules  # a later import is free to load it
    loaded = object()
    monkeypatch.setitem(sys.modules, "tensorflow", loaded)
    for backend in ("jax", "tensorflow"):
        with sweep._backend_only(backend):
            assert sys.modules["tensorflow"] is loaded, backend
        assert sys.modules["tensorflow"] is loaded, backend


def test_sweep_fuses_the_losses_of_a_model_and_seed():
    runs = config.override(config.profile("quick"), seeds=(0, 1)).runs()
    groups = sweep.units_of_work(runs, fuse=True)
    by_key = {(g[0].model, g[0].seed): [c.loss for c in g] for g in groups if len(g) > 1}
    assert by_key[("simple", 0)] == list(config.COMPARED_LOSSES) and by_key[("deep", 1)] == ["bce", "mse"]
    assert all(len(g) == 1 for g in groups if g[0].model in ("sparse", "vae"))
    assert sorted(c.path for g in groups for c in g) == sorted(c.path for c in runs)
    assert all(len(g) == 1 for g in sweep.units_of_work(runs, fuse=False))


ROOT = Path(__file__).resolve().parents[1]
#: Two losses side by side on TensorFlow, in this process; four epochs, so there are checkpoints to kill inside.
GROUP = ["run", "--profile", "smoke", "--models", "simple", "--losses", "bce", "huber", "--epochs", "4",
         "--train-limit", "512", "--backend", "tensorflow", "--no-report"]


def finished(code: int) -> bool:
    """The sweep ran to its end (its runs may be screened out after so few steps: 100 + n)."""
    return code == 0 or cli.EXIT_FAILED_RUNS < code <= cli.EXIT_FAILED_RUNS + cli.MOST_COUNTED


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "sweep"
    assert finished(cli.main([*GROUP, "--out", str(out)]))
    return out


def _same_runs(out: Path, reference: Path) -> None:
    for loss in ("bce", "huber"):
        run, ref = out / f"synthetic/simple/{loss}/seed0", reference / f"synthetic/simple/{loss}/seed0"
        assert (run / "history.json").read_bytes() == (ref / "history.json").read_bytes(), loss
        np.testing.assert_array_equal(np.load(run / "reconstructions.npz")["recon"],
                                      np.load(ref / "reconstructions.npz")["recon"])
    assert not list(out.rglob("*.tmp*")) and not list(out.rglob("checkpoint*")), "leftovers"
    assert not (out / ".locks").exists()


def _ended_pid() -> int:
    """The pid of a process that has just ended (and been reaped): a lock held by it is stale."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """``killed(when, nth)``: a sweep folder as GROUP leaves it when SIGKILL hits at that write (tests/kill_driver.py),
    made once per module and copied for each test, which may change its copy."""
    made = {}

    def copy(when: str, nth: int, to: Path) -> Path:
        if (when, nth) not in made:
            out = tmp_path_factory.mktemp("killed") / "sweep"
            done = subprocess.run([sys.executable, str(ROOT / "tests/kill_driver.py"), when, str(nth), "--", *GROUP,
                                   "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
            assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
            made[when, nth] = out
        copied = Path(shutil.copytree(made[when, nth], to, symlinks=True))
        ended = _ended_pid()
        for lock in copied.glob(".locks/*.json"):  # the killed process's pid may have been reused since
            fileio.write_json(lock, {**fileio.read_json(lock), "pid": ended})
        return copied

    return copy


@pytest.mark.parametrize("when,nth", [("checkpoint-npz", 2), ("checkpoint-json", 3), ("status", 1)],
                         ids=["inside a checkpoint write", "between state and pointer", "between status writes"])
def test_a_kill_at_any_instant_then_the_same_command_ends_bit_identical(tmp_path, uninterrupted, killed, when, nth):
    """SIGKILL inside a checkpoint write (its temporary file on disk), between a checkpoint's state and its pointer,
    or between the status writes of a side-by-side group: the same command then finishes the group as one unit,
    bit-identical to an uninterrupted run, with no temporary file, checkpoint or lock left."""
    out = killed(when, nth, tmp_path / "sweep")
    if when == "status":
        assert sweep.run_status(out / "synthetic/simple/bce/seed0") == "done"
        assert sweep.run_status(out / "synthetic/simple/huber/seed0") == "pending"
    else:
        assert list(out.rglob("checkpoint-e*"))
    assert finished(cli.main([*GROUP, "--out", str(out)]))
    _same_runs(out, uninterrupted)


def test_a_damaged_side_by_side_checkpoint_is_removed_and_the_group_trained_again(tmp_path, uninterrupted, killed,
                                                                                 capsys):
    out = killed("checkpoint-json", 3, tmp_path / "sweep")
    (state,) = out.rglob("checkpoint.json")
    (state.parent / fileio.read_json(state)["state"]).write_bytes(b"PK\x03\x04 truncated")
    for _ in range(2):  # the same command, again: it does not fail forever
        assert finished(cli.main([*GROUP, "--out", str(out)]))
    assert "cannot be used" in capsys.readouterr().out
    _same_runs(out, uninterrupted)


def test_finished_runs_made_with_other_settings_are_refused_then_discarded(tmp_path, capsys):
    out = tmp_path / "sweep"
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "2", "--out", str(out), "--no-report"]
    assert finished(cli.main(base))
    (out / "sweep.json").unlink()  # even without the sweep index, each run's config.json tells
    assert cli.main([*base, "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "synthetic/simple/mse/seed0: epochs" in err and "--discard-changed" in err
    assert finished(cli.main([*base, "--epochs", "3", "--discard-changed"]))
    assert fileio.read_json(out / "synthetic/simple/mse/seed0/config.json")["epochs"] == 3
    assert fileio.read_json(out / "synthetic/simple/mse/seed0/history.json")["epoch"] == [1, 2, 3]


def test_discard_changed_does_not_change_a_pre_registered_margin_or_endpoint_after_runs_finished(tmp_path, capsys):
    out = tmp_path / "sweep"
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "1", "--out", str(out), "--no-report"]
    assert finished(cli.main(base))
    index = (out / "sweep.json").read_bytes()
    for change in (["--margin", "0.05"], ["--endpoint", "rmse"]):
        assert cli.main([*base, *change, "--discard-changed"]) == 2
        assert (out / "sweep.json").read_bytes() == index
    err = capsys.readouterr().err
    assert "registered margin 0.02 before its runs trained, and 1 run(s) in it have finished" in err
    assert cli.main([*base, "--margin", "0.05"]) == 2  # without the flag: not advised to pass it, in vain
    assert "Rerun with --margin 0.02, or train into another --out" in capsys.readouterr().err
    assert "Rerun with --endpoint rmse_midtone, or train into another --out" in err
    shutil.rmtree(out / "synthetic/simple")  # no run has finished: the sweep may still be registered anew
    assert finished(cli.main([*base, "--margin", "0.05", "--discard-changed"]))
    assert fileio.read_json(out / "sweep.json")["config"]["margin"] == 0.05


def test_a_resumed_sweep_keeps_the_provenance_of_the_process_that_started_it(tmp_path):
    from replicate import analysis
    from replicate.config import settings_digest

    out = tmp_path / "sweep"
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "1", "--out", str(out), "--no-report"]

    def headline():
        spec = fileio.read_json(out / "sweep.json")
        return analysis._provenance(out, settings_digest(spec["config"]), analysis._trained_by(out, spec))

    assert finished(cli.main([*base, "--seeds", "2"]))
    first = fileio.read_json(out / "provenance.json")
    first.pop("finished")  # as if it had stopped after its runs, and the code was updated before the rerun
    first["git"] = {**(first.get("git") or {}), "commit": "0" * 40}
    fileio.write_json(out / "provenance.json", first)
    assert finished(cli.main([*base, "--seeds", "2"]))  # nothing to train, but its record had not finished: kept
    shutil.rmtree(out / "synthetic/simple/mse/seed1")
    assert finished(cli.main([*base, "--seeds", "2"]))  # a resume with a run to train
    written = (out / "provenance.json").read_bytes()
    assert finished(cli.main([*base, "--seeds", "2"]))  # nothing to train, all finished: left as it is
    assert (out / "provenance.json").read_bytes() == written
    written = fileio.read_json(out / "provenance.json")
    assert written["earlier"][0] == first and len(written["earlier"]) == 2 and "earlier" not in written["earlier"][1]
    prov = headline()
    assert prov["started"] == first["started"] and prov["git"]["commit"] == "0" * 40  # who started it
    assert len(prov["shards"]) == 3 and "earlier" not in prov and prov["differs"] == ["git"]
    assert prov["finished"] == written["finished"]
    assert finished(cli.main([*base, "--seeds", "2", "--epochs", "2", "--discard-changed"]))  # every run anew
    written = fileio.read_json(out / "provenance.json")
    names = {fileio.read_json(out / f"synthetic/simple/mse/seed{k}/status.json")["process"] for k in (0, 1)}
    assert names == {written["process"]} != {written["earlier"][-1]["process"]}  # each run names its process
    prov = headline()
    assert len(written["earlier"]) == 3 and prov["started"] == written["started"]  # the present settings' first
    assert prov["differs"] == ["git", "settings_sha256"] and len(prov["shards"]) == 4
    assert finished(cli.main([*base, "--seeds", "2", "--discard-changed"]))  # the first settings again: all anew
    written = fileio.read_json(out / "provenance.json")
    assert headline()["started"] == written["started"]  # not the first process's, whose runs were replaced


def test_limits_beyond_the_data_are_recorded_as_used_and_a_missing_data_dir_is_refused(tmp_path, capsys):
    out = tmp_path / "sweep"
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "1", "--out", str(out), "--no-report"]
    assert finished(cli.main([*base, "--train-limit", "99999999"]))
    assert "exceeds the 1,024 training images; all are used" in capsys.readouterr().out
    assert fileio.read_json(out / "sweep.json")["config"]["train_limit"]["simple"] is None
    assert cli.main([*base, "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_second_writer_is_refused_and_a_stale_lock_is_removed(tmp_path, capsys):
    import json
    import os
    import socket

    out = tmp_path / "sweep"
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "1", "--out", str(out), "--no-report"]
    lock = out / ".locks" / "shard-1-of-1.json"
    lock.parent.mkdir(parents=True)
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": "2026-01-01T00:00:00+00:00",
              "shard": "1/1"}
    lock.write_text(json.dumps(holder))
    assert cli.main(base) == 2
    assert f"is being written by process {os.getpid()} on host {socket.gethostname()}" in capsys.readouterr().err
    lock.rename(lock.with_name("shard-1-of-2.json"))  # a shard of another split overlaps a whole-sweep run
    assert cli.main(base) == 2
    err = capsys.readouterr().err
    assert "overlaps shard 1/1" in err and f"delete {lock.with_name('shard-1-of-2.json')}" in err
    mine = {**holder, "process": lock_mod._identity(os.getpid()), "pid_namespace": lock_mod._pid_namespace()}
    lock.with_name("shard-1-of-2.json").write_text(json.dumps(mine))
    assert cli.main(base) == 2 and "overlaps shard 1/1" in capsys.readouterr().err  # the same process: live
    reused = {**mine, "process": mine["process"].rsplit(":", 1)[0] + ":1"}  # this pid, but an earlier process's
    lock.with_name("shard-1-of-2.json").write_text(json.dumps({**reused, "pid_namespace": "pid:[1]"}))
    assert cli.main(base) == 2  # from another container with this host name: its pids cannot be looked up here
    lock.with_name("shard-1-of-2.json").write_text(json.dumps(reused))
    assert finished(cli.main(base))
    assert "removed a stale lock" in capsys.readouterr().out and not (out / ".locks").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.parent.mkdir()
    lock.with_name("shard-1-of-2.json").write_text(json.dumps({**holder, "pid": int(dead.stdout)}))
    assert finished(cli.main(base))
    assert "removed a stale lock" in capsys.readouterr().out and not (out / ".locks").exists()


def test_a_damaged_status_is_named_and_its_run_trained_again(tmp_path, capsys):
    out = tmp_path / "sweep"
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "1", "--out", str(out), "--no-report"]
    assert finished(cli.main(base))
    (out / "synthetic/simple/mse/seed0/status.json").write_text("{}")
    assert finished(cli.main(base))
    assert "status.json is unreadable; the run is trained again" in capsys.readouterr().out
    assert sweep.run_status(out / "synthetic/simple/mse/seed0") == "done"


def test_a_done_run_without_its_reconstructions_is_skipped_by_a_rerun_and_its_advice_says_delete_it(tmp_path, capsys):
    """Its status says done, so running the command again keeps it as it is: evaluate's advice must be to delete
    the run's folder first, and after that the rerun trains it again."""
    out = tmp_path / "sweep"
    base = ["run", "--profile", "smoke", "--models", "simple", "--losses", "mse", "--backend", "tensorflow",
            "--epochs", "1", "--out", str(out), "--no-report"]
    assert finished(cli.main(base))
    run = out / "synthetic/simple/mse/seed0"
    (run / "reconstructions.npz").unlink()
    cli.main(base)
    assert not (run / "reconstructions.npz").exists()  # not trained again: a rerun alone does not mend it
    capsys.readouterr()
    assert cli.main(["evaluate", str(out)]) == 2
    assert "(incomplete): status says done but reconstructions.npz is missing; delete this run's folder" in \
        capsys.readouterr().err
    shutil.rmtree(run)
    assert finished(cli.main(base)) and (run / "reconstructions.npz").exists()

class _Child:
    """A stand-in for a child process that exits with ``code`` when waited for; ``interrupts``: how many of its
    waits are cut short by a Ctrl-C first. It records the signals it gets."""

    def __init__(self, code=0, interrupts=0):
        self.code, self.interrupts, self.signals, self.returncode = code, interrupts, [], None

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        if self.interrupts:
            self.interrupts -= 1
            raise KeyboardInterrupt
        self.returncode = self.code
        return self.code

    def send_signal(self, sig):
        self.signals.append(sig)

    def kill(self):
        self.signals.append(signal.SIGKILL)


def _two_backend_sweep(tmp_path, monkeypatch, child=None, parent_error=None):
    """Run the smoke sweep of sparse (JAX, here) and conv (TensorFlow, a child) with training replaced by records."""
    calls, child = [], child or _Child()

    def start_child(units, out, backend, **kw):
        calls.append(("child", backend, [c.path for u in units for c in u], kw))
        return child, backend

    def train_here(units, out, **kw):
        assert child.returncode is None  # the child trains meanwhile
        calls.append(("here", units[0][0].backend, [c.path for u in units for c in u], kw))
        if parent_error:
            raise parent_error

    monkeypatch.setattr(sweep, "_start_child", start_child)
    monkeypatch.setattr(sweep, "train_units", train_here)
    monkeypatch.setattr(sweep, "_can_run_here", lambda backend: backend == "jax")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    cfg = config.override(config.profile("smoke"), models=("sparse", "conv"))
    assert [r.backend for r in cfg.runs()] == ["jax", "jax", "tensorflow", "tensorflow"]
    return lambda: sweep.run_sweep(cfg, tmp_path / "sweep", log=lambda line: None), calls, child


def test_the_backends_train_at_the_same_time_and_a_failed_child_is_named(tmp_path, monkeypatch):
    run, calls, child = _two_backend_sweep(tmp_path, monkeypatch)
    run()
    assert [(who, backend) for who, backend, _, _ in calls] == [("child", "tensorflow"), ("here", "jax")]
    assert calls[0][2] == ["synthetic/conv/bce/seed0", "synthetic/conv/mse/seed0"]
    assert {k: calls[0][3][k] for k in ("first", "last", "total", "progress")} == {
        "first": 3, "last": 4, "total": 4, "progress": True}
    assert {k: calls[1][3][k] for k in ("first", "last", "total", "progress")} == {
        "first": 1, "last": 2, "total": 4, "progress": False}  # one process draws the progress line
    assert child.returncode == 0 and child.signals == []

    run, calls, child = _two_backend_sweep(tmp_path, monkeypatch, child=_Child(code=1))
    with pytest.raises(sweep.WorkerError, match="the tensorflow worker stopped with exit status 1; run the same"):
        run()


def test_a_worker_that_stops_with_an_error_ends_the_command_with_exit_3(tmp_path, monkeypatch, capsys):
    """A worker killed (here: as if for lack of memory) is named, and the command exits 3, not with a traceback."""
    monkeypatch.setattr(sweep, "_can_run_here", lambda backend: False)  # every backend in a child
    monkeypatch.setattr(sweep, "_start_child", lambda units, out, backend, **kw: (_Child(code=-9), backend))
    argv = ["run", "--profile", "smoke", "--models", "conv", "--out", str(tmp_path / "sweep"), "--no-report"]
    assert cli.main(argv) == cli.EXIT_UNFINISHED
    assert "replicate run: error: the tensorflow worker stopped with exit status -9" in capsys.readouterr().err


@pytest.mark.parametrize("error,signals", [(KeyboardInterrupt(), []), (OSError("disk full"), [signal.SIGINT])],
                         ids=["ctrl-c: the child got it too", "an error: the child is told"])
def test_a_parent_that_stops_stops_its_child_and_waits_for_it(tmp_path, monkeypatch, error, signals):
    run, calls, child = _two_backend_sweep(tmp_path, monkeypatch, child=_Child(code=130), parent_error=error)
    with pytest.raises(type(error)):
        run()
    assert child.signals == signals and child.returncode == 130


def test_a_ctrl_c_while_waiting_for_the_child_is_passed_on_and_a_second_one_kills_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "CHILD_GRACE_S", 0.01)
    run, calls, child = _two_backend_sweep(tmp_path, monkeypatch, child=_Child(code=130, interrupts=1))
    with pytest.raises(KeyboardInterrupt):
        run()
    assert child.returncode == 130 and child.signals == []  # its wait in the grace period saw it exit

    run, calls, child = _two_backend_sweep(tmp_path, monkeypatch, child=_Child(code=-9, interrupts=3))
    with pytest.raises(KeyboardInterrupt):
        run()
    assert child.returncode == -9 and signal.SIGKILL in child.signals


def test_a_child_gets_ctrl_c_once_when_the_terminal_already_sent_it(monkeypatch):
    """A Ctrl-C on the terminal reaches the whole process group: a child that stops by itself gets no second one
    (which could cut short its clean exit); one still running after the grace period does."""
    code = ("import os, signal, sys, time\n"  # exit 130 a second after a Ctrl-C, at once with 99 on a second one
            "def on_int(*_):\n    signal.signal(signal.SIGINT, lambda *_: os._exit(99))\n"
            "    time.sleep(1)\n    sys.exit(130)\n"
            "signal.signal(signal.SIGINT, on_int)\nprint('ready', flush=True)\ntime.sleep(30)")
    children = [(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE), "tensorflow")
                for _ in range(2)]
    try:
        assert [child.stdout.readline() for child, _ in children] == [b"ready\n"] * 2
        children[0][0].send_signal(signal.SIGINT)  # as the terminal would
        monkeypatch.setattr(sweep, "CHILD_GRACE_S", 3.0)  # the first stops 1 s after its Ctrl-C
        sweep._interrupt(children, already=True)
        assert [child.wait(10) for child, _ in children] == [130, 130]
    finally:
        for child, _ in children:
            child.kill()
            child.wait()
            child.stdout.close()


def test_a_worker_whose_sweep_process_is_gone_stops(tmp_path):
    """The lock is the sweep process's: a worker must not go on writing once it is gone."""
    with pytest.raises(SystemExit, match="the sweep process 1 that started this worker is gone"):
        sweep._worker([str(tmp_path), "--units", "[]", "--parent", "1"])


def test_the_git_state_is_dirty_for_a_changed_file_or_an_untracked_one_the_code_could_import(tmp_path, monkeypatch):
    from replicate import provenance

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "empty")
    (tmp_path / ".gitignore").write_text("runs/\n")
    git("add", ".gitignore")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "ignore runs")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "out.json").write_text("{}")  # ignored output: still clean
    (tmp_path / "figure.png").write_text("")  # an untracked file that is not code: still clean
    state = provenance.git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (tmp_path / "helper.py").write_text("x = 1\n")  # untracked code beside the package's
    assert provenance.git_state(tmp_path)["dirty"] is True
    git("add", "helper.py")  # staged, not committed: a tracked change
    assert provenance.git_state(tmp_path)["dirty"] is True
    assert provenance.git_state(tmp_path / "runs")["commit"] == state["commit"]
    (tmp_path / "pkg").mkdir()  # the package installed into a folder of a repository that does not track it
    monkeypatch.setattr(provenance, "__file__", str(tmp_path / "pkg" / "provenance.py"))
    assert provenance.git_state() == {"commit": "unknown", "dirty": None}


def test_provenance_records_the_backend_keras_runs_on_not_a_stale_environment_variable(monkeypatch):
    """keras.json may choose the backend: once Keras is imported, its answer is the one recorded."""
    import keras

    from replicate import provenance

    other = next(b for b in config.BACKENDS if b != keras.backend.backend())
    monkeypatch.setenv("KERAS_BACKEND", other)
    assert provenance.collect([])["backend"] == keras.backend.backend()
    assert provenance.collect([], "jax and tensorflow")["backend"] == "jax and tensorflow"
