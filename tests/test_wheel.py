"""The installable artifact: the wheel built from this tree, installed with the lock's exact versions in a fresh
virtual environment outside the tree, runs a smoke sweep from another folder and writes the whole report (its
templates are package data).

Slow (it installs TensorFlow, JAX and the rest, minutes): run with ``pytest -m slow tests/test_wheel.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.html_page import SECTIONS, parse
from tests.noise import noise

ROOT = Path(__file__).resolve().parents[1]


def _run(argv, cwd: Path, timeout: int, *, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``argv`` in ``cwd`` with nothing of this tree or its environment on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "TF_CPP_MIN_LOG_LEVEL")}
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0 or not check, (
        f"{argv} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.mark.slow
def test_wheel_installs_outside_the_tree_and_writes_a_report(tmp_path):
    assert not tmp_path.is_relative_to(ROOT)
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT], work, 600)
    wheels = list(dist.glob("replicate-*.whl"))
    assert len(wheels) == 1, wheels
    _run([sys.executable, "-m", "venv", venv], work, 300)
    python, replicate = venv / "bin" / "python", venv / "bin" / "replicate"
    _run([python, "-m", "pip", "install", "-q", "-c", ROOT / "requirements.lock", wheels[0]], work, 3600)

    where = _run([python, "-c", "import replicate, sys; print(replicate.__file__); print(replicate.__version__)"],
                 work, 120).stdout.split()
    assert Path(where[0]).is_relative_to(venv) and where[1] != "0+unknown", where
    done = _run([replicate, "run", "--profile", "smoke", "--out", "sweep"], work, 1200, check=False)
    assert done.returncode in (0, *range(100, 200)), done.stderr[-3000:]  # 100 + n: n runs screened out
    assert not noise(done.stdout + done.stderr), done.stderr[-3000:]
    html = (work / "sweep" / "report.html").read_text(encoding="utf-8")
    page = parse(html)
    assert page.order == SECTIONS and all(len(sec["text"].split()) > 20 for sec in page.sections.values())
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
