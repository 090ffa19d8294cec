"""A sweep trained as shards: started by hand at the same time into one folder, then merged by `replicate
evaluate`, gives the unsharded sweep's judgements; a second process on a shard, or a shard with other settings, is
refused. The executors that start the shards as jobs are tested in test_cluster.py."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from replicate import cli, config, fileio, sweep
from replicate.lock import SweepLock
from tests.small_sweep import SMALL, judged

ROOT = Path(__file__).resolve().parents[1]


def test_shards_split_the_units_of_work_evenly_and_keep_side_by_side_losses_together():
    runs = config.override(config.profile("quick"), seeds=(0, 1)).runs()
    units = sweep.units_of_work(runs, fuse=True)
    shards = [sweep.shard_units(units, i, 3) for i in (1, 2, 3)]
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    paths = lambda units: sorted(tuple(c.path for c in unit) for unit in units)  # noqa: E731
    assert paths(u for shard in shards for u in shard) == paths(units)  # every unit once, whole
    assert shards == [sweep.shard_units(sweep.units_of_work(runs, fuse=True), i, 3) for i in (1, 2, 3)]
    assert sweep.shard_units(units, 1, 1) == units
    with pytest.raises(ValueError, match="1 <= i <= n"):
        sweep.shard_units(units, 3, 2)


def test_shards_with_and_without_one_by_one_divide_the_sweep_alike():
    """The split depends on the sweep alone: shard i holds the same runs whether it trains them side by side or
    one by one, so shards started either way neither skip a run nor train one twice."""
    runs = config.profile("smoke").runs()
    for count in (2, 3):
        fused = [sweep.units_of_shard(runs, i, count, fuse=True) for i in range(1, count + 1)]
        alone = [sweep.units_of_shard(runs, i, count, fuse=False) for i in range(1, count + 1)]
        assert all(len(unit) == 1 for shard in alone for unit in shard)
        assert [[c for u in shard for c in u] for shard in fused] == [[c for u in shard for c in u] for shard in alone]
        assert sorted(c.path for shard in alone for u in shard for c in u) == sorted(r.path for r in runs)


@pytest.mark.slow
def test_shards_started_together_merge_into_the_unsharded_results(tmp_path, unsharded):
    """Shards started by hand, each in its own process (the default suite covers the same split and merge through
    the local executor, tests/test_cluster.py)."""
    out = tmp_path / "sweep"
    started = [subprocess.Popen([sys.executable, "-m", "replicate", *SMALL, "--out", str(out), "--shard", f"{i}/2"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    logs = [proc.communicate(timeout=600) for proc in started]
    for proc, (stdout, stderr) in zip(started, logs):
        assert proc.returncode == 0, stderr[-2000:]
    assert "(shard 1/2: 3 of 4)" in logs[0][0] and "(shard 2/2: 1 of 4)" in logs[1][0]
    assert f"run 'replicate evaluate {out}'" in logs[0][0]
    assert sorted(p.name for p in out.glob("provenance*.json")) == ["provenance-shard-1-of-2.json",
                                                                    "provenance-shard-2-of-2.json"]
    assert not (out / ".locks").exists() and not (out / "results.json").exists()
    assert cli.main(["evaluate", str(out)]) == 0
    assert judged(out) == judged(unsharded)
    merged = fileio.read_json(out / "results.json")["sweep"]["provenance"]
    assert [shard["shard"] for shard in merged["shards"]] == ["1/2", "2/2"]


def test_a_shard_with_other_settings_or_a_live_writer_is_refused(tmp_path, capsys):
    out = tmp_path / "sweep"
    one_epoch = [*SMALL, "--epochs", "1", "--out", str(out), "--no-report"]
    assert cli.main([*one_epoch, "--shard", "1/2"]) == cli.EXIT_FAILED_RUNS + 3  # its 3 runs: screened out
    assert "(shard 1/2: 3 of 4)" in capsys.readouterr().out

    assert cli.main([*SMALL, "--epochs", "2", "--out", str(out), "--shard", "2/2"]) == 2  # other settings
    assert "holds a sweep made with other settings (epochs differ)" in capsys.readouterr().err
    lock = out / ".locks" / "shard-2-of-2.json"  # shard 2/2 held by a live process: a second one is refused
    lock.parent.mkdir()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": "now", "shard": "2/2"}))
    assert cli.main([*one_epoch, "--shard", "2/2"]) == 2
    err = capsys.readouterr().err
    assert f"is being written by process {os.getpid()} on host {socket.gethostname()}" in err and "shard 2/2" in err
    assert len(list(out.rglob("status.json"))) == 3  # shard 1's runs; shard 2's was not started


def test_a_lock_left_by_an_earlier_run_of_the_same_slurm_job_is_stale(tmp_path, monkeypatch):
    """A requeued Slurm job may start on another node; the lock of its earlier run is then not a live writer. The
    processes of one run of a job (shards started in one allocation) hold live locks of each other."""
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)  # as in a job Slurm has not restarted
    locks = tmp_path / ".locks"
    locks.mkdir()
    earlier = {"host": "node-elsewhere", "pid": 1, "started": "then", "shard": "1/2", "slurm_job": "4242"}
    (locks / "shard-1-of-2.json").write_text(json.dumps(earlier))
    monkeypatch.setenv("SLURM_JOB_ID", "4243")  # another job: the holder on another host counts as alive
    with pytest.raises(ValueError, match="node-elsewhere"):
        SweepLock(tmp_path, 1, 2, log=lambda line: None).__enter__()
    monkeypatch.setenv("SLURM_JOB_ID", "4242")  # the same run of the job: alive too
    with pytest.raises(ValueError, match="node-elsewhere"):
        SweepLock(tmp_path, 1, 2, log=lambda line: None).__enter__()
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the job requeued: its earlier run's lock is stale
    notes = []
    with SweepLock(tmp_path, 1, 2, log=notes.append) as lock:
        assert fileio.read_json(lock.path)["slurm_job"] == "4242"
        assert fileio.read_json(lock.path)["slurm_restart"] == "1"
        sibling = {"host": socket.gethostname(), "pid": os.getppid(), "started": "now", "shard": "2/2",
                   "slurm_job": "4242", "slurm_restart": "1"}  # a live process of this run of the job
        (locks / "shard-2-of-2.json").write_text(json.dumps(sibling))
        with pytest.raises(ValueError, match=f"is being written by process {os.getppid()}"):
            SweepLock(tmp_path, 2, 2, log=notes.append).__enter__()
    assert len(notes) == 1 and "removed a stale lock of process 1 on host node-elsewhere" in notes[0]


def test_a_stale_lock_is_taken_away_only_while_it_is_the_one_judged_stale(tmp_path):
    """Two processes may judge the same dead holder stale; the second must not remove the lock the first has
    written since."""
    from replicate import lock

    path = tmp_path / "shard-1-of-1.json"
    stale = {"host": "h", "pid": 1, "started": "then", "shard": "1/1"}
    path.write_text(json.dumps(stale))
    assert lock._take_away(path, stale) and not path.exists()
    assert not lock._take_away(path, stale)  # already gone: the other process won
    live = {"host": "h", "pid": 2, "started": "now", "shard": "1/1"}
    path.write_text(json.dumps(live))  # the winner's lock, written after the loser read the stale one
    assert not lock._take_away(path, stale)
    assert json.loads(path.read_text()) == live and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_lock_folder_removed_by_a_finishing_shard_is_made_again(tmp_path, monkeypatch):
    """Another shard that finishes removes the empty lock folder; this one may have just made it."""
    from replicate import lock

    real, calls = lock.tempfile.mkstemp, []

    def racing(*args, dir, **kwargs):
        calls.append(dir)
        if len(calls) == 1:
            Path(dir).rmdir()  # the other shard's __exit__, between our mkdir and our lock file
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(lock.tempfile, "mkstemp", racing)
    with SweepLock(tmp_path, 1, 2, log=lambda line: None) as held:
        assert fileio.read_json(held.path)["shard"] == "1/2" and len(calls) == 2
    assert not (tmp_path / ".locks").exists()
