"""Shards as jobs (replicate.cluster): submitit's local executor trains the small sweep's shards as processes and
the run ends merged, with the unsharded sweep's judgements, or names the shards that failed; a shard's job requeues
as the same call; bad settings exit 2 before anything is submitted. The Slurm executor on a real one-node cluster
is test_slurm.py (slow)."""
import sys

import pytest
import submitit  # noqa: F401  (its log handlers bind to the streams of the moment: these, not a test's capsys)

from replicate import cli, cluster, config, fileio
from tests.small_sweep import SMALL, judged


def test_the_local_executor_trains_the_shards_as_processes_and_merges_them(tmp_path, unsharded, capsys):
    out = tmp_path / "sweep"
    assert cli.main([*SMALL, "--out", str(out), "--executor", "local", "--shards", "2", "--time-limit", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("started 2 shard(s) as local processes (pids ")
    assert lines[0].endswith(f"each with a 20 min limit; logs in {out}/.submitit/")
    assert sorted(line.split(" (job")[0] for line in lines[1:3]) == ["shard 1/2 finished", "shard 2/2 finished"]
    assert lines[-3:] == [f"results: {out / 'results.json'}", f"report: {out / 'report.html'}",
                          "4 runs: 4 usable, 0 failed, 0 screened out (collapsed or diverged)"]
    assert judged(out) == judged(unsharded)
    shard = fileio.read_json(out / "provenance-shard-2-of-2.json")
    assert shard["shard"] == "2/2" and "--executor local --shards 2" in shard["command"]
    assert not (out / ".locks").exists() and list((out / ".submitit").glob("*_0_log.out"))
    for path in [out / "sweep.json", *(out / "synthetic").rglob("*.json")]:  # nothing depends on where it lives
        assert str(tmp_path) not in path.read_text(), path

    # Shards that fail (here: asked for other settings than the folder's) are named with their error and log.
    argv = [*SMALL, "--epochs", "41", "--out", str(out), "--executor", "local", "--shards", "1", "--no-report"]
    assert cli.main(argv) == cli.EXIT_UNFINISHED
    err = capsys.readouterr().err
    assert "shard 1/1 (job " in err and "_0_log.err)" in err
    assert f"did not finish: ValueError: {out} holds a sweep made with other settings (epochs differ)" in err
    assert "1 of 1 shard(s) did not finish, so the runs were not merged" in err

    # A run made with other settings than the sweep's (by a shard run with others, say) is not merged in.
    run = out / "synthetic/simple/mse/seed0"
    fileio.write_json(run / "config.json", {**fileio.read_json(run / "config.json"), "epochs": 41})
    assert cli.main(["evaluate", str(out)]) == cli.EXIT_UNFINISHED  # written, and it says a run is missing
    (missing,) = fileio.read_json(out / "results.json")["missing"]
    assert (missing["path"], missing["status"]) == ("synthetic/simple/mse/seed0", "other settings")
    assert "(epochs differ)" in missing["reason"] and "--discard-changed" in missing["reason"]


def test_a_shard_job_requeues_as_the_same_call():
    """At its time limit submitit pickles what ``checkpoint`` returns and requeues it: the same shard, which resumes
    from the checkpoints in the sweep folder (resuming is tested in test_sweep.py)."""
    job = cluster.ShardJob(config.profile("smoke"), "sweep", 2, 3, fuse=False)
    again = job.checkpoint()
    assert again.function is job and again.args == () and again.kwargs == {}
    assert repr(job) == "ShardJob('smoke', 'sweep', 2/3)"


@pytest.mark.parametrize("flags,message", [
    (["--executor", "local"], "--executor local needs --shards N"),
    (["--executor", "local", "--shards", "0"], "argument --shards: shards must be a positive integer, got 0"),
    (["--executor", "local", "--shards", "4"], "--shards 4 is more than the sweep's 3 units of work"),
    (["--shards", "2"], "--shards needs --executor local or --executor slurm"),
    (["--executor", "local", "--shards", "2", "--shard", "1/2"], "Pass one of the two"),
    (["--executor", "local", "--shards", "2", "--slurm-partition", "gpu"], "--slurm-partition is a Slurm setting"),
    (["--executor", "local", "--shards", "2", "--time-limit", "0"], "--time-limit must be an integer >= 1, got 0"),
    (["--executor", "slurm", "--shards", "2"], "--executor slurm needs --slurm-partition NAME"),
], ids=["no shards", "zero shards", "more shards than units", "shards alone", "shard and executor",
        "slurm flag with local", "zero time", "no partition"])
def test_bad_executor_settings_exit_2_before_anything_is_submitted(tmp_path, capsys, flags, message):
    out = tmp_path / "sweep"
    assert cli.main([*SMALL, "--out", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_slurm_without_slurm_or_without_submitit_exits_2(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    argv = [*SMALL, "--out", str(out), "--executor", "slurm", "--shards", "2", "--slurm-partition", "batch"]
    monkeypatch.setattr(cluster.shutil, "which", lambda name: None)
    assert cli.main(argv) == 2
    assert "--executor slurm found no Slurm here (no sbatch or srun on the PATH)" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "submitit", None)  # as if the optional dependency were not installed
    assert cli.main(argv) == 2
    assert "--executor slurm needs submitit, an optional dependency: pip install 'replicate[slurm]'" in \
        capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("status,job_sees", [(0, 0), (103, 0), (125, 0), (2, 2), (3, 3), (126, 126), (127, 127),
                                             (130, 130), (143, 143)])
def test_the_readme_kubernetes_shard_counts_runs_failed_or_screened_as_done(tmp_path, status, job_sees):
    """The Indexed Job's command (README) maps 100 + n to 0, or Kubernetes retries the pod until the Job fails."""
    import json
    import re
    import subprocess
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    command = json.loads(re.search(r"^ +command: (\[.*JOB_COMPLETION_INDEX.*\])$", readme, re.M)[1])
    stub = tmp_path / "replicate"
    stub.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\nexit {status}\n')
    stub.chmod(0o755)
    done = subprocess.run(command, env={"PATH": f"{tmp_path}:/usr/bin:/bin", "JOB_COMPLETION_INDEX": "2"})
    assert done.returncode == job_sees
    assert (tmp_path / "args").read_text().split() == ["run", "--profile", "quick", "--out", "/runs/quick",
                                                       "--shard", "3/8"]
