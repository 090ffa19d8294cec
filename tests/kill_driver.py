"""Run ``replicate run ARGS...`` and kill this process (SIGKILL, no clean-up) at a chosen instant, for the resume
tests: ``python tests/kill_driver.py WHEN N -- ARGS...`` dies at the N-th (1-based) occurrence of WHEN:

- ``checkpoint-npz``: a checkpoint's state file written to its temporary name, not yet renamed into place;
- ``checkpoint-json``: the state file in place, the checkpoint.json that points at it not yet written;
- ``status``: right after a run's status.json is written (between the status writes of a side-by-side group).
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from replicate import cli, fileio  # noqa: E402

WHEN, NTH = sys.argv[1], int(sys.argv[2])
ARGS = sys.argv[sys.argv.index("--") + 1:]
seen = 0


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _count_and_maybe_die() -> None:
    global seen
    seen += 1
    if seen == NTH:
        _die()


_replace, _write_json = os.replace, fileio.write_json


def replace(src, dst, *args, **kwargs):
    if WHEN == "checkpoint-npz" and Path(dst).name.startswith("checkpoint-e"):
        _count_and_maybe_die()
    return _replace(src, dst, *args, **kwargs)


def write_json(path, obj):
    if WHEN == "checkpoint-json" and Path(path).name == "checkpoint.json":
        _count_and_maybe_die()
    out = _write_json(path, obj)
    if WHEN == "status" and Path(path).name == "status.json" and obj.get("status") == "done":
        _count_and_maybe_die()
    return out


fileio.os.replace = replace
fileio.write_json = write_json
sys.exit(cli.main(ARGS))
