"""Metrics: all per-image metrics of ``replicate.metrics.evaluate`` for 10 000 images against the bare
scikit-image calls they are built on (Wang SSIM, default SSIM and PSNR, one image at a time).

Everything else ``evaluate`` computes must be cheap, so the target is a ratio <= 1.5; its SSIM and PSNR values must
equal the bare calls' exactly. Targets are the Fashion-MNIST test images (else smooth synthetic images);
reconstructions are the targets blurred (Gaussian, sigma 1) plus noise (sd 0.03), clipped to [0, 1] and stored as
float16, as the runner stores them.

    python benchmarks/bench_metrics.py [--images 10000] [--repeats 5]
"""
from __future__ import annotations

import sys

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from common import interleaved, medians, parser, ratio, save, timed
from replicate import data, metrics

TARGET = 1.5


def load_targets(n: int) -> tuple[np.ndarray, str]:
    """``n`` uint8 test images and where they came from."""
    try:
        images, source = data.load_uint8("fashion_mnist", "test")
        return np.resize(images, (n, 28, 28)), f"Fashion-MNIST test set ({source.path.rsplit('/', 1)[-1]})"
    except data.DataError:
        rng = np.random.default_rng(0)
        smooth = gaussian_filter(rng.random((n, 28, 28)), (0, 2, 2))
        smooth = (smooth - smooth.min(axis=(1, 2), keepdims=True)) / np.ptp(smooth, axis=(1, 2), keepdims=True)
        return np.round(255 * smooth).astype(np.uint8), "synthetic smooth images (Fashion-MNIST not found)"


def bare_calls(a: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """The scikit-image calls alone, one image at a time."""
    out = {"ssim": np.empty(len(a)), "ssim_skimage": np.empty(len(a)), "psnr": np.empty(len(a))}
    for i in range(len(a)):
        out["ssim"][i] = structural_similarity(a[i], x[i], **metrics.WANG_SSIM)
        out["ssim_skimage"][i] = structural_similarity(a[i], x[i], **metrics.SKIMAGE_SSIM)
        out["psnr"][i] = peak_signal_noise_ratio(a[i], x[i], data_range=1.0)
    return out


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--images", type=int, default=10_000)
    args = p.parse_args(argv)
    targets, source = load_targets(args.images)
    a = data.to_unit(targets).astype(np.float64)
    rng = np.random.default_rng(1)
    recons = np.clip(gaussian_filter(a, (0, 1, 1)) + rng.normal(0, 0.03, a.shape), 0, 1).astype(np.float16)
    x = recons.astype(np.float64)

    got, expected = {}, {}  # the values of the last timed repetition of each
    times = interleaved({"bare": lambda: timed(lambda: expected.update(bare_calls(a, x))),
                         "evaluate": lambda: timed(lambda: got.update(metrics.evaluate(targets, recons)))},
                        args.repeats, warmup=lambda: (metrics.evaluate(targets[:64], recons[:64]),
                                                      bare_calls(a[:64], x[:64])))
    equal = {k: bool(np.array_equal(got[k], v)) for k, v in expected.items()}
    r = ratio(times, "evaluate", "bare")
    m = medians(times)
    print(f"{args.images} images of 28x28, {source}, median of {args.repeats}:")
    print(f"  bare scikit-image calls (2 SSIM + PSNR per image) {m['bare']:.3f} s, metrics.evaluate (all metrics) "
          f"{m['evaluate']:.3f} s -> ratio {r['of_medians']:.3f} (paired {r['paired_median']:.3f}, "
          f"{r['paired_min']:.3f}-{r['paired_max']:.3f}; target <= {TARGET})")
    print(f"  values equal to the bare calls: {', '.join(f'{k} {v}' for k, v in equal.items())}")
    save("metrics", {"images": args.images, "source": source, "repeats": args.repeats, "seconds": times,
                     "median_s": m, "evaluate_over_bare": r, "target": TARGET, "values_equal": equal})
    return 0 if r["of_medians"] <= TARGET and all(equal.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
