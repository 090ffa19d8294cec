"""Scale-out: a sweep's shards as jobs of submitit's executors, either processes on this machine (``local``) or one
Slurm job array (``slurm``). A job is one unit of work, :class:`ShardJob`: shard ``i/n`` of the sweep, trained by
the same code as ``replicate run --shard i/n`` (:func:`replicate.sweep.run_sweep`). A job that reaches its time
limit is checkpointed and requeued, and the requeued job resumes from the sweep's own checkpoints.

This module submits and waits; it does not train (the sweep does) and does not merge: once every shard has
finished, ``replicate evaluate`` reads every run's files. submitit is an optional dependency
(``pip install 'replicate[slurm]'``), imported only when jobs are submitted.
"""
from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from replicate.config import SweepConfig, check_positive

EXECUTORS = ("local", "slurm")
#: How often a shard that reaches its time limit is requeued (each time it resumes from its checkpoints).
REQUEUES = 5
#: submitit's folder (job scripts, pickled jobs, logs) inside the sweep folder.
LOGS = ".submitit"
#: How long a Slurm task may be missing from ``squeue`` without a result before it counts as ended (seconds).
GONE_AFTER_S = 90


class ClusterError(ValueError):
    """Jobs cannot be submitted as asked (bad settings, submitit or Slurm missing); the message says what to do."""


@dataclass(frozen=True)
class Resources:
    """What each shard's job asks for. ``time_limit`` (minutes) and ``gpus_per_task`` apply to both executors; the
    partition, CPUs, memory (GB) and array parallelism (tasks running at once; ``None``: all) to Slurm alone."""

    time_limit: int = 240
    gpus_per_task: int = 0
    partition: str | None = None
    cpus_per_task: int = 4
    mem_gb: int | None = None
    array_parallelism: int | None = None

    def __post_init__(self):
        for name, least in (("time_limit", 1), ("gpus_per_task", 0), ("cpus_per_task", 1), ("mem_gb", 1),
                            ("array_parallelism", 1)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < least):
                raise ClusterError(f"--{name.replace('_', '-')} must be an integer >= {least}, got {value!r}")


class ShardJob:
    """Shard ``index`` of ``count`` of ``sweep`` into ``out``: a callable for submitit (returns the shard's
    :func:`replicate.sweep.tally`) with a ``checkpoint`` that requeues it.

    It holds no state of its own: the sweep folder holds the shard's progress (finished runs, epoch checkpoints),
    so the requeued job is the same call, which resumes where the folder says.
    """

    def __init__(self, sweep: SweepConfig, out: str | os.PathLike, index: int, count: int, *, data_dir=None,
                 fuse: bool = True, discard_changed: bool = False, argv: list[str] | None = None):
        self.sweep, self.out, self.index, self.count = sweep, str(out), index, count
        self.data_dir, self.fuse, self.discard_changed, self.argv = data_dir, fuse, discard_changed, argv

    def __call__(self) -> dict[str, int]:
        from replicate.sweep import run_sweep

        return run_sweep(self.sweep, self.out, data_dir=self.data_dir, argv=self.argv, fuse=self.fuse,
                         discard_changed=self.discard_changed, shard=(self.index, self.count))

    def checkpoint(self, *args, **kwargs):
        """Called by submitit when the job's time is nearly up: the same call again, to be requeued."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)

    def __repr__(self) -> str:
        return f"ShardJob({self.sweep.profile!r}, {self.out!r}, {self.index}/{self.count})"


def submit(kind: str, sweep: SweepConfig, out: str | os.PathLike, shards: int, resources: Resources = Resources(),
           *, data_dir=None, fuse: bool = True, discard_changed: bool = False,
           argv: list[str] | None = None) -> list:
    """Submit the ``shards`` shards of ``sweep`` as jobs of executor ``kind``; return submitit's jobs, shard 1 first.

    ``local`` starts every shard now as a process on this machine; ``slurm`` submits one job array, of which at
    most ``resources.array_parallelism`` tasks run at once. Each job runs :class:`ShardJob`; its logs are in
    ``out/.submitit/``.

    Raises
    ------
    ClusterError
        If ``kind`` is unknown, ``shards`` is below 1 or above the sweep's units of work, submitit is not
        installed, there is no Slurm here, no partition was given for Slurm, or ``sbatch`` refused the array.
    """
    if kind not in EXECUTORS:
        raise ClusterError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    try:
        check_positive("--shards", shards)
    except ValueError as err:
        raise ClusterError(str(err)) from None
    from replicate.sweep import units_of_work

    units = len(units_of_work(sweep.runs(), fuse=True))  # the shards split these, with or without fuse
    if shards > units:
        raise ClusterError(f"--shards {shards} is more than the sweep's {units} units of work (the losses of a model "
                           f"and seed, which stay in one shard, with --one-by-one too); pass --shards {units} or fewer")
    executor = _executor(kind, Path(out) / LOGS, resources)
    jobs = [ShardJob(sweep, out, i, shards, data_dir=data_dir, fuse=fuse, discard_changed=discard_changed,
                     argv=argv) for i in range(1, shards + 1)]
    from submitit.core.utils import FailedJobError

    refused = io.StringIO()
    try:
        with contextlib.redirect_stderr(refused):  # submitit echoes sbatch's error; it is in the message below
            return executor.submit_array(jobs)
    except FailedJobError as err:
        raise ClusterError(f"sbatch refused the job array: {str(err).strip() or refused.getvalue().strip()}") from None


def _executor(kind: str, folder: Path, resources: Resources):
    """submitit's executor of ``kind``, writing to ``folder``, with the resources set."""
    try:
        import submitit
    except ImportError:
        raise ClusterError(f"--executor {kind} needs submitit, an optional dependency: pip install "
                           "'replicate[slurm]' (or pip install 'submitit>=1.5')") from None
    if kind == "slurm" and not resources.partition:
        raise ClusterError("--executor slurm needs --slurm-partition NAME (sinfo lists the partitions)")
    setup = _same_code()
    if kind == "local":
        executor = submitit.LocalExecutor(folder, max_num_timeout=REQUEUES)
        executor.update_parameters(timeout_min=resources.time_limit, gpus_per_node=resources.gpus_per_task,
                                   **({"setup": setup} if setup else {}))
        return executor
    if shutil.which("srun") is None or shutil.which("sbatch") is None:
        raise ClusterError("--executor slurm found no Slurm here (no sbatch or srun on the PATH); run it on the "
                           "cluster's login node, or use --executor local")
    executor = submitit.SlurmExecutor(folder, max_num_timeout=REQUEUES)
    params = dict(partition=resources.partition, time=resources.time_limit, cpus_per_task=resources.cpus_per_task,
                  job_name=f"replicate-{folder.parent.name}")
    if resources.gpus_per_task:
        params["gpus_per_node"] = resources.gpus_per_task  # one task per node: the task's GPUs
    if resources.mem_gb:
        params["mem"] = f"{resources.mem_gb}G"
    if resources.array_parallelism:
        params["array_parallelism"] = resources.array_parallelism
    if setup:
        params["setup"] = setup
    executor.update_parameters(**params)
    return executor


def _same_code() -> list[str]:
    """Shell lines that make a job import this very package: for a source checkout (not an installed one), its
    folder first on PYTHONPATH, whatever the job's working directory."""
    import replicate

    package = Path(replicate.__file__).resolve().parent
    if {"site-packages", "dist-packages"} & set(package.parts):
        return []
    return [f"export PYTHONPATH={shlex.quote(str(package.parent))}${{PYTHONPATH:+:$PYTHONPATH}}"]


def describe(kind: str, jobs: list, out: str | os.PathLike, resources: Resources) -> str:
    """One line saying what was submitted, the job ids and where the logs are."""
    logs = Path(out) / LOGS
    if kind == "local":
        ids = ", ".join(job.job_id for job in jobs)
        return (f"started {len(jobs)} shard(s) as local processes (pids {ids}), each with a {resources.time_limit} "
                f"min limit; logs in {logs}/")
    array = jobs[0].job_id.split("_")[0]
    gpus = f", {resources.gpus_per_task} GPU(s)" if resources.gpus_per_task else ""
    mem = f", {resources.mem_gb} GB" if resources.mem_gb else ""
    at_once = f", at most {resources.array_parallelism} at once" if resources.array_parallelism else ""
    return (f"submitted {len(jobs)} shard(s) as Slurm job {array} (tasks {jobs[0].job_id} .. {jobs[-1].job_id}) to "
            f"partition {resources.partition}: {resources.time_limit} min, {resources.cpus_per_task} CPU(s){gpus}"
            f"{mem} per task{at_once}; logs in {logs}/")


def job_ids(kind: str, jobs: list) -> str:
    """The id to watch or cancel the jobs by: the Slurm array's id, or the local processes' ids."""
    return jobs[0].job_id.split("_")[0] if kind == "slurm" else " ".join(job.job_id for job in jobs)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def wait(jobs: list, log: Callable[[str], None] = print, warn: Callable[[str], None] = _to_stderr,
         poll_s: float = 2.0) -> list[str]:
    """Wait until every shard's job has ended, with a line as each one does (``log`` when it finished, ``warn``
    when not); return the lines of the shards that did not finish (their error and log), empty when all did.
    Interrupted, it stops local jobs (Slurm's go on).

    A Slurm job has ended when its result is written or ``squeue`` has not listed it for ``GONE_AFTER_S`` seconds:
    this needs no accounting database (``sacct``), which small clusters often lack."""
    import submitit

    count = len(jobs)
    pending = dict(enumerate(jobs, 1))
    gone_since: dict[int, float] = {}
    problems = []
    try:
        while pending:
            queued = _queued(pending.values()) if isinstance(jobs[0], submitit.SlurmJob) else None
            for index, job in list(pending.items()):
                if queued is None or job.paths.result_pickle.exists():
                    if not job.done():
                        continue
                    error = job.exception()
                    if error is None:
                        counts = job.result()
                        log(f"shard {index}/{count} finished (job {job.job_id}): {counts['runs']} runs, "
                            f"{counts['usable']} usable, {counts['failed']} failed, {counts['screened']} screened out")
                    else:
                        problems.append(f"shard {index}/{count} (job {job.job_id}) did not finish: "
                                        f"{_reason(error)} (log: {job.paths.stderr})")
                        warn(problems[-1])
                elif job.job_id in queued:
                    gone_since.pop(index, None)
                    continue
                elif time.time() - gone_since.setdefault(index, time.time()) < GONE_AFTER_S:
                    continue  # a result may take a moment to show on a shared file system
                else:
                    problems.append(f"shard {index}/{count} (job {job.job_id}) left the queue without a result "
                                    f"(cancelled, or killed by Slurm?); see {job.paths.stderr}")
                    warn(problems[-1])
                del pending[index]
            if pending:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        for job in pending.values():
            if isinstance(job, submitit.LocalJob):
                job.cancel()  # a local shard stops with its caller (it resumes when run again)
        raise
    return problems


def _queued(jobs) -> set[str] | None:
    """The ids of the Slurm array tasks still queued or running (``squeue``), or None when it cannot tell (then
    submitit asks ``sacct``)."""
    arrays = sorted({job.job_id.split("_")[0] for job in jobs})
    if shutil.which("squeue") is None:
        return None
    try:
        listed = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if listed.returncode != 0 and "Invalid job id" not in listed.stderr:  # an unknown id: the array has ended
        return None
    return set(listed.stdout.split())


def _reason(error: Exception) -> str:
    """The last line of a job's traceback (the exception and its message), or the error's first line."""
    text = str(error)
    if "----------------------" in text:
        trace = text.split("----------------------")[1]
        lines = [line for line in trace.splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def interrupted_note(kind: str, jobs: list, out: str | os.PathLike) -> str:
    """What to do after the waiting was interrupted: Slurm's jobs go on, local ones stop (and resume when run
    again)."""
    merge = merge_command(out)
    if kind == "slurm":
        return (f"the job array {job_ids(kind, jobs)} goes on (scancel {job_ids(kind, jobs)} stops it); when it has "
                f"finished: {merge}")
    return "the local shards were stopped too; finished runs and epochs are saved: run the same command to resume"


def merge_command(out: str | os.PathLike) -> str:
    """The commands that merge the shards' runs into results.json and the report."""
    quoted = shlex.quote(str(out))
    return f"replicate evaluate {quoted} && replicate report {quoted}"

