"""Write a tiny sweep directory in the runner's layout, with numpy only, for tests of analysis and report.

Reconstructions are the target blurred a little, plus noise, plus a loss-dependent pull of midtone pixels
toward a heavily blurred copy (``midtone_pull``): the larger the pull, the larger and blurrier the midtone
error. Everything is derived from fixed seeds, so two calls write identical files.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from replicate.fileio import write_json, write_npz

#: Default pull of midtone pixels toward a heavy blur, per loss: BCE worse than MSE, as the textbook predicts.
DEFAULT_PULL = {"bce": 0.5, "mse": 0.2}
DEFAULT_FINAL_LOSS = {"bce": 0.28, "mse": 0.012}


def write_fake_sweep(root, *, dataset: str = "fashion_mnist", models=("simple",), losses=("bce", "mse"),
                     seeds=(0, 1, 2), n_images: int = 12, profile: str = "quick", epochs: int = 3,
                     midtone_pull: dict[str, float] | None = None, final_val_loss: dict[str, float] | None = None,
                     failed=(), missing=(), constant=(), config_extra: dict | None = None) -> Path:
    """Write ``<root>/sweep.json``, ``provenance.json``, targets and one folder per run; return ``root``.

    ``failed``, ``missing`` and ``constant`` hold ``(model, loss, seed)`` triples: a failed run has a
    ``status.json`` saying so and no reconstructions; a missing one is listed as pending and has no folder at all;
    a constant one finished with a constant output of 0.004 (a collapsed run). ``midtone_pull`` and
    ``final_val_loss`` are keyed by loss or by ``model/loss``; ``config_extra`` adds to the sweep config (an endpoint or a margin, say).
    """
    root = Path(root)
    pull = {**DEFAULT_PULL, **(midtone_pull or {})}
    final = {**DEFAULT_FINAL_LOSS, **(final_val_loss or {})}
    images = fake_targets(n_images)
    write_npz(root / dataset / "targets.npz", images=images, index=np.arange(n_images, dtype=np.int64))
    target = images.astype(np.float32) / 255
    failed, missing = {tuple(t) for t in failed}, {tuple(t) for t in missing}
    constant = {tuple(t) for t in constant}
    runs = []
    for model in models:
        for loss in losses:
            for seed in seeds:
                rel = f"{dataset}/{model}/{loss}/seed{seed}"
                key = (model, loss, seed)
                status = "pending" if key in missing else "failed" if key in failed else "done"
                runs.append({"dataset": dataset, "model": model, "loss": loss, "seed": seed, "path": rel,
                             "status": status})
                if status == "pending":
                    continue
                run = root / rel
                write_json(run / "config.json", {"dataset": dataset, "model": model, "loss": loss, "seed": seed,
                                                 "epochs": epochs, "profile": profile})
                if status == "failed":
                    write_json(run / "status.json", {"status": "failed", "reason": "simulated failure", "epoch": 1,
                                                     "wall_s": 0.5, "device": "cpu"})
                    continue
                rng = np.random.default_rng([seed, zlib.crc32(f"{model}/{loss}".encode())])
                share = pull.get(f"{model}/{loss}", pull.get(loss, 0.3))
                recon = _reconstruct(target, share * (1 + 0.05 * rng.normal()), rng)
                if key in constant:
                    recon = np.full_like(recon, 0.004)
                write_npz(run / "reconstructions.npz", recon=recon.astype(np.float16))
                end = final.get(f"{model}/{loss}", final.get(loss, 0.1)) * (1 + 0.01 * rng.normal())
                curve = [end + 0.05 * (1 / e - 1 / epochs) for e in range(1, epochs + 1)]
                write_json(run / "history.json", {"epoch": list(range(1, epochs + 1)),
                                                  "loss": [v - 0.002 for v in curve], "val_loss": curve})
                write_json(run / "status.json", {"status": "done", "reason": None, "epoch": epochs,
                                                 "wall_s": 1.0 + seed, "device": "cpu"})
    config = {"profile": profile, "dataset": dataset, "models": list(models), "losses": list(losses),
              "seeds": list(seeds), "epochs": epochs, "train_limit": 64, "test_limit": n_images, **(config_extra or {})}
    write_json(root / "sweep.json", {"config": config, "runs": runs})
    write_json(root / "provenance.json", {
        "versions": {"numpy": np.__version__}, "backend": "none (fake sweep)", "device": "cpu",
        "git": {"commit": "0" * 40, "dirty": False}, "data_sha256": "0" * 64,
        "command": "tests/fake_sweep.py", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:01:00Z"})
    return root


def fake_targets(n: int, size: int = 28, seed: int = 0) -> np.ndarray:
    """uint8 "garments": a shaded ellipse on a black background, with saturated and midtone areas."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / (size - 1) - 0.5
    out = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        ry, rx = rng.uniform(0.3, 0.45), rng.uniform(0.2, 0.4)
        inside = (yy / ry) ** 2 + (xx / rx) ** 2 <= 1
        shade = _blur(rng.random((1, size, size)), 2.0)[0]
        shade = (shade - shade.min()) / (np.ptp(shade) + 1e-12)
        out[i] = np.round(255 * np.clip(inside * (0.02 + 1.15 * shade), 0, 1))
    return out


def _reconstruct(target: np.ndarray, pull: float, rng: np.random.Generator) -> np.ndarray:
    """Slightly blurred target plus noise, with midtones pulled toward a heavy blur by ``pull``."""
    recon = _blur(target, 0.6) + rng.normal(0, 0.02, target.shape)
    mid = (target > 0.3) & (target <= 0.7)
    recon = np.where(mid, recon + pull * (_blur(target, 2.5) - recon), recon)
    return np.clip(recon, 0, 1)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a (N, H, W) stack, reflecting at the borders."""
    r = max(1, int(3 * sigma + 0.5))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.asarray(images, dtype=np.float64)
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="reflect")
        n = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(j, j + n), axis=axis) for j, w in enumerate(k))
    return out
