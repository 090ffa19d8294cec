"""Screening: is a run usable evidence, or did it collapse (a near-constant output, or no better than the mean
image, which ignores the input) or diverge (non-finite output)? The runner writes the verdict into
``status.json``; ``evaluate`` applies the same rule again to every run, so older sweeps are screened too."""
from __future__ import annotations

import numpy as np

from replicate import data

#: A run is screened out as collapsed when its output pixels vary by less than this fraction of the targets'
#: standard deviation (a near-constant output) ...
SCREEN_MIN_STD_RATIO = 0.01
#: ... or when its mean squared error is at least this fraction of the mean image's (the targets' mean at every
#: pixel, the best output that ignores the input): a model no better than that has learned nothing about its input.
SCREEN_MAX_MSE_RATIO = 0.9


def screen(recon, targets) -> dict:
    """Whether one run's reconstructions are usable evidence, or the run collapsed or diverged.

    Parameters
    ----------
    recon : array_like
        The run's reconstructions, floats in [0, 1] (non-finite values mean it diverged).
    targets : array_like
        The matching targets, floats in [0, 1] or uint8.

    Returns
    -------
    dict
        ``verdict`` ('usable', 'collapsed' or 'diverged'), ``reasons`` (sentences), ``output_std_ratio`` (pixel
        standard deviation of the reconstructions over the targets') and ``mse_to_constant`` (MSE over the MSE of
        the targets' mean image, i.e. over the targets' variance across images, averaged over pixels); thresholds
        :data:`SCREEN_MIN_STD_RATIO` and :data:`SCREEN_MAX_MSE_RATIO`.
    """
    x = np.asarray(recon, dtype=np.float64)
    a = np.asarray(targets)
    a = data.to_unit(a).astype(np.float64) if a.dtype == np.uint8 else a.astype(np.float64)
    if not np.isfinite(x).all():
        return judge(None, None, finite=False)
    return _against(float(x.std()), float(np.mean((x - a) ** 2)), a)


def screen_from_metrics(per_image: dict, targets) -> dict:
    """:func:`screen` from a run's per-image metrics (their pixel means, mean squares and MSE) and its targets."""
    a = data.to_unit(np.asarray(targets)).astype(np.float64)
    mean, sq = float(np.mean(per_image["recon_mean"])), float(np.mean(per_image["recon_sq_mean"]))
    std = float(np.sqrt(max(sq - mean * mean, 0.0)))
    return _against(std, float(np.mean(per_image["mse"])), a)


def _against(std: float, mse: float, a: np.ndarray) -> dict:
    """The verdict from an output's pixel standard deviation over the targets' ``a``, and its MSE over that of the
    targets' mean image (a ratio is None where its reference is 0)."""
    reference = float(a.reshape(len(a), -1).var(axis=0).mean())
    return judge(std / float(a.std()) if a.std() > 0 else None, mse / reference if reference > 0 else None)


def judge(std_ratio: float | None, mse_ratio: float | None, *, finite: bool = True) -> dict:
    """The screening verdict from the two ratios (see :func:`screen`)."""
    if not finite:
        return {"verdict": "diverged", "reasons": ["non-finite reconstructions"], "output_std_ratio": None,
                "mse_to_constant": None}
    reasons = []
    if std_ratio is not None and std_ratio < SCREEN_MIN_STD_RATIO:
        reasons.append(f"near-constant output (pixel standard deviation {100 * std_ratio:.2f} % of the targets', "
                       f"below {100 * SCREEN_MIN_STD_RATIO:g} %)")
    if mse_ratio is not None and mse_ratio >= SCREEN_MAX_MSE_RATIO:
        reasons.append(f"no better than the targets' mean image (MSE {mse_ratio:.2f} times the mean image's, at or "
                       f"above {SCREEN_MAX_MSE_RATIO:g})")
    return {"verdict": "collapsed" if reasons else "usable", "reasons": reasons, "output_std_ratio": std_ratio,
            "mse_to_constant": mse_ratio}
