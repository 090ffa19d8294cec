"""Benchmark: all per-image metrics vs the bare scikit-image calls they are built on.

Times ``replicate.metrics.evaluate`` on 10 000 images of 28x28 against a plain loop of the calls it cannot
vectorise (Wang SSIM, default SSIM and PSNR per image). Everything else ``evaluate`` computes must be cheap,
so the ratio must stay at or below 1.5; the script exits with status 1 otherwise.

Targets are the Fashion-MNIST test images when present (else smooth synthetic images); reconstructions are
the targets blurred (Gaussian, sigma 1) plus noise (sd 0.03), clipped to [0, 1] and stored as float16, as the
runner stores them. Each timing is the best of ``--repeats`` alternating runs, to damp noise from other load.

    python benchmarks/bench_metrics.py [--images 10000] [--repeats 2]
"""
from __future__ import annotations

import argparse
import gzip
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from replicate import metrics

FASHION_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
MAX_RATIO = 1.5


def load_targets(n: int) -> tuple[np.ndarray, str]:
    """``n`` uint8 test images and where they came from."""
    if FASHION_TEST.exists():
        with gzip.open(FASHION_TEST) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        return np.resize(images, (n, 28, 28)), f"Fashion-MNIST test set ({FASHION_TEST})"
    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.random((n, 28, 28)), (0, 2, 2))
    smooth = (smooth - smooth.min(axis=(1, 2), keepdims=True)) / np.ptp(smooth, axis=(1, 2), keepdims=True)
    return np.round(255 * smooth).astype(np.uint8), "synthetic smooth images (Fashion-MNIST not found)"


def bare_calls(a: np.ndarray, x: np.ndarray) -> None:
    """The scikit-image calls alone, one image at a time."""
    for i in range(len(a)):
        structural_similarity(a[i], x[i], **metrics.WANG_SSIM)
        structural_similarity(a[i], x[i], **metrics.SKIMAGE_SSIM)
        peak_signal_noise_ratio(a[i], x[i], data_range=1.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    targets, source = load_targets(args.images)
    a = (targets.astype(np.float32) / 255).astype(np.float64)
    rng = np.random.default_rng(1)
    recons = np.clip(gaussian_filter(a, (0, 1, 1)) + rng.normal(0, 0.03, a.shape), 0, 1).astype(np.float16)
    x = recons.astype(np.float64)

    metrics.evaluate(targets[:64], recons[:64])  # warm caches and imports outside the timings
    bare_calls(a[:64], x[:64])
    bare, full = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        bare_calls(a, x)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        metrics.evaluate(targets, recons)
        full.append(time.perf_counter() - t)
    ratio = min(full) / min(bare)
    print(f"images: {args.images} x 28x28, {source}")
    print(f"host: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}; best of {args.repeats}")
    print(f"bare scikit-image calls (2x SSIM + PSNR per image): {min(bare):.3f} s")
    print(f"metrics.evaluate (all metrics):                     {min(full):.3f} s")
    print(f"ratio: {ratio:.3f} (limit {MAX_RATIO})")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
