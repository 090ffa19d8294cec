"""Run the nine benchmarks, each in its own process, and print their figures; each writes its JSON under
``benchmarks/results/``. Exits non-zero if a benchmark misses its target or fails.

    python benchmarks/run_all.py [--quick]

``--quick`` runs 2 repetitions, skips the 8-minute main job and writes its JSON to a temporary folder: a check
that the benchmarks run, not figures.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("bench_train", "bench_sweep", "bench_metrics", "bench_main_job", "bench_flops", "bench_protocol",
              "bench_feed", "bench_epoch", "bench_losses")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 repetitions, no main job (checks that they run)")
    args = p.parse_args(argv)
    missed = []
    env = {**os.environ, "REPLICATE_BENCH_RESULTS": tempfile.mkdtemp(prefix="bench-quick-")} if args.quick else None
    for name in BENCHMARKS:
        if args.quick and name == "bench_main_job":
            continue
        print(f"== {name}", flush=True)
        extra = ["--repeats", "2"] if args.quick else []
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *extra], stderr=subprocess.PIPE, text=True,
                              env=env)
        if done.returncode:  # stderr is mostly the backend's start-up log; show its end only when something is off
            print("\n".join(done.stderr.splitlines()[-15:]), file=sys.stderr)
            missed.append(f"{name} (exit {done.returncode})")
    print("all targets met" if not missed else f"missed a target or failed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
