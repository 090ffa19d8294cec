"""Whole main job: the work of the README's main command (``make report`` in a set-up environment: list the data,
train the quick sweep, compute the metrics, write the report), phase by phase, each phase as its own
``replicate`` command. Target: at most 15 minutes in all on 2 CPU cores.

One repetition by default: the job takes 6 to 16 minutes on 2 cores (benchmarks/RESULTS.md), and it is itself a
sweep of 78 runs.

    python benchmarks/bench_main_job.py [--repeats 1] [--out DIR]
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import parser, save, timed

TARGET_S = 15 * 60


def phases(out: Path) -> dict[str, list[str]]:
    replicate = [sys.executable, "-m", "replicate"]
    return {"data": [*replicate, "data"],
            "training": [*replicate, "run", "--profile", "quick", "--out", str(out), "--no-report"],
            "metrics": [*replicate, "evaluate", str(out)],
            "report": [*replicate, "report", str(out)]}


def _run(command: list[str]) -> None:
    """Run one phase; a sweep with runs screened out (exit 100 + n) still finished its work."""
    code = subprocess.run(command, stdout=subprocess.DEVNULL).returncode
    if code and not 100 < code <= 125:
        raise subprocess.CalledProcessError(code, command)


def main(argv=None) -> int:
    p = parser(__doc__, repeats=1)
    p.add_argument("--out", type=Path, help="keep the sweep here (default: a temporary folder, removed)")
    args = p.parse_args(argv)
    seconds: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        out = args.out or Path(tempfile.mkdtemp(prefix="replicate-main-job-")) / "sweep"
        if args.out and out.exists():
            shutil.rmtree(out)  # a fresh sweep each time, never a resumed one
        for phase, command in phases(out).items():
            seconds.setdefault(phase, []).append(timed(lambda: _run(command)))
            print(f"  {phase}: {seconds[phase][-1]:.1f} s", flush=True)
        seconds.setdefault("total", []).append(sum(seconds[phase][-1] for phase in phases(out)))
        if not args.out:
            shutil.rmtree(out.parent)
    median = {k: round(statistics.median(v), 2) for k, v in seconds.items()}
    total = median["total"]
    from replicate import config

    runs = len(config.profile("quick").runs())
    print(f"main job (quick sweep, {runs} runs), median of {args.repeats}: {total / 60:.1f} min "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in median.items() if k != 'total')}; target <= 15 min)")
    save("main_job", {"repeats": args.repeats, "seconds": seconds, "median_s": median, "target_s": TARGET_S})
    return 0 if total <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
