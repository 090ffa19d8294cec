"""Smoke tests of the tutorial scripts: each runs end to end in ``--quick`` mode as a user would start it
(``python tutorials/NN_name.py --quick --out DIR`` from the repository root, in its own process), exits 0,
says that it is quick, prints the post's reported number where the post has one, and writes its figures.

The reported numbers below are the post's, as recorded with their quotes in ``replicate.tutorial.REPORTED``
(current version of "Building Autoencoders in Keras"); the code means 3.33 and 7.30 are from its sparsity
section. Quick mode trains one epoch on 256 synthetic images, so only the wiring is checked here; each
script costs about the Keras import plus a few seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.noise import noise

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"

#: script -> (extra arguments, strings its output must contain, files it must write in --out)
CASES = {
    "01_simple.py": ([], ["about 0.09", "train loss", "validation loss"],
                     ["01_simple_reconstructions_synthetic_bce.png"]),
    "02_sparse.py": ([], ["0.11 (train", "0.10 (test", "Mean code activation", "3.33", "7.30"],
                     ["02_sparse_reconstructions_synthetic_bce.png"]),
    "03_deep.py": ([], ["0.08 (train/val"], ["03_deep_reconstructions_synthetic_bce.png"]),
    "04_convolutional.py": ([], ["0.094 (train/test", "Code shape per image: (4, 4, 8)"],
                            ["04_conv_reconstructions_synthetic_bce.png", "04_conv_codes_synthetic_bce.png"]),
    "05_denoising.py": ([], ["no loss value", "RMSE to the clean test images"],
                        ["05_denoising_synthetic_bce.png"]),
    "06_vae.py": ([], ["no loss value", "z_mean over the test set"],
                  ["06_vae_reconstructions_synthetic_bce.png", "06_vae_latent_synthetic_bce.png",
                   "06_vae_manifold_synthetic_bce.png"]),
    # Two losses instead of seven keep this test short; the other losses have their own tests.
    "07_loss_comparison.py": (["--losses", "mse"], ["Midtone RMSE per loss", "bce", "mse", "Report:"],
                              ["07_loss_comparison_simple_synthetic.html"]),
}


def _run(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, **(env or {})}
    return subprocess.run([sys.executable, str(TUTORIALS / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_script_is_tested():
    scripts = sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py"))
    assert scripts == sorted(CASES)


@pytest.mark.parametrize("script", sorted(CASES))
def test_quick_mode_runs_end_to_end(script, tmp_path):
    extra, expected, files = CASES[script]
    done = _run(script, "--quick", "--out", str(tmp_path), *extra)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert not noise(done.stdout + done.stderr), f"{script} printed a library's log or an error:\n{done.stderr}"
    assert "QUICK MODE" in done.stdout
    assert "The full run (no --quick)" in done.stdout
    for text in expected:
        assert text in done.stdout, f"{script} did not print {text!r}:\n{done.stdout}"
    for name in files:
        path = tmp_path / name
        assert path.is_file() and path.stat().st_size > 1000, f"{script} did not write {name}"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((tmp_path / "runs").rglob("status.json")), "no run folder under <out>/runs"


def test_unreadable_dataset_exits_2_with_the_fix(tmp_path):
    """A damaged local MNIST file is refused before any training, with the data module's explanation."""
    (tmp_path / "mnist.npz").write_bytes(b"not an npz archive")
    done = _run("01_simple.py", "--dataset", "mnist", "--out", str(tmp_path / "out"),
                env={"REPLICATE_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "mnist.npz" in done.stderr and "cannot be read" in done.stderr
    assert not (tmp_path / "out" / "runs").exists()
