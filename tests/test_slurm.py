"""The Slurm executor on a real cluster: scripts/slurm-local.sh brings up a one-node Slurm (Debian's slurm-wlm and
munge, on loopback); the small sweep is submitted as a two-task job array, one task is sent the signal Slurm sends
at a time limit (it is requeued and resumes), and the merged results.json has the unsharded sweep's judgements.
Then the same command with --no-wait returns at once with the job id, and the merge it prints gives them again.

Slow (about 4 minutes, 2 of them Slurm's delay before a requeued job may start again) and needs root, which
installs and starts Slurm: ``python -m pytest -m slow tests/test_slurm.py``.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replicate import cli, fileio
from tests.small_sweep import SMALL, judged

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
PARTITION = "local"
#: The small sweep with 80 epochs: long enough to signal a task in the middle of its training.
LONGER = [*SMALL, "--epochs", "80"]


@pytest.fixture(scope="module")
def slurm():
    """A one-node Slurm cluster on this host for the module's tests, taken down after them."""
    if os.geteuid() != 0:
        pytest.skip("scripts/slurm-local.sh installs and starts Slurm, which needs root")
    up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, f"slurm-local.sh up failed:\n{up.stdout}\n{up.stderr}"
    try:
        yield
    finally:
        down = subprocess.run([str(SCRIPT), "down"], capture_output=True, text=True, timeout=300)
        assert down.returncode == 0, down.stderr


def tasks(array: str) -> dict[str, str]:
    """The array's tasks that Slurm still lists, with their state."""
    listed = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", array], capture_output=True, text=True)
    return dict(line.split() for line in listed.stdout.splitlines())


def test_a_job_array_with_a_requeued_task_merges_into_the_unsharded_results(slurm, tmp_path):
    reference = tmp_path / "unsharded"
    assert cli.main([*LONGER, "--out", str(reference), "--no-report"]) == 0
    assert cli.main(["evaluate", str(reference)]) == 0

    out = tmp_path / "sweep"
    argv = [sys.executable, "-m", "replicate", *LONGER, "--out", str(out), "--executor", "slurm", "--shards", "2",
            "--slurm-partition", PARTITION, "--cpus-per-task", "1", "--time-limit", "10"]
    started = time.time()
    submitter = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = out / "synthetic/simple/fused-seed0/checkpoint.json"  # shard 1's first unit, mid-training
    while not checkpoint.exists() and submitter.poll() is None and time.time() - started < 300:
        time.sleep(0.1)
    assert checkpoint.exists(), "shard 1 never wrote a checkpoint"
    (script,) = (out / ".submitit").glob("*_submission.sh")  # submitit names it by the array's id
    array = script.name.split("_")[0]
    # What Slurm sends --signal-delay seconds before a task's time limit (submitit's own test hook does the same).
    subprocess.run(["scancel", "--signal=USR2", f"{array}_0"], check=True)
    stdout, stderr = submitter.communicate(timeout=900)
    took = time.time() - started
    assert submitter.returncode == 0, stderr[-3000:]

    lines = stdout.splitlines()
    assert lines[0].startswith(f"submitted 2 shard(s) as Slurm job {array} (tasks {array}_0 .. {array}_1) to "
                               f"partition {PARTITION}: 10 min, 1 CPU(s) per task")
    assert f"shard 1/2 finished (job {array}_0): 3 runs, 3 usable" in stdout
    assert lines[-1] == "4 runs: 4 usable, 0 failed, 0 screened out (collapsed or diverged)"
    log = (out / ".submitit" / f"{array}_0_0_log.out").read_text()
    assert f"Requeued job {array}_0 (4 remaining timeouts)" in log
    assert log.count("sweep smoke: 3 runs (shard 1/2: 3 of 4)") == 2, "the requeued task ran the shard again"
    assert judged(out) == judged(reference)
    print(f"job array {array}: submitted, task 0 requeued, merged in {took:.0f} s")

    # --no-wait: the same command returns with the job id and the merge command; the shards find their runs done.
    (out / "results.json").unlink()
    again = subprocess.run([*argv, "--no-wait"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    second = re.search(r"as Slurm job (\d+) ", again.stdout).group(1)
    assert f"watch them with 'squeue -j {second}'" in again.stdout
    assert f"merge their runs with: replicate evaluate {out} && replicate report {out}" in again.stdout
    deadline = time.time() + 300
    while tasks(second) and time.time() < deadline:
        time.sleep(1)
    assert not tasks(second)
    for task, runs in ((0, 3), (1, 1)):
        assert f"({runs} already done)" in (out / ".submitit" / f"{second}_{task}_0_log.out").read_text()
    assert cli.main(["evaluate", str(out)]) == 0
    assert judged(out) == judged(reference)
    merged = fileio.read_json(out / "results.json")["sweep"]["provenance"]
    # Task 0 before and after its requeue, then task 1; the --no-wait tasks trained nothing and left them as they were.
    assert [shard["shard"] for shard in merged["shards"]] == ["1/2", "1/2", "2/2"]
    assert not merged["shards"][0].get("finished") and merged["shards"][1]["finished"]
