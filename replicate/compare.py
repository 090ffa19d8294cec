"""Compare two ``results.json`` files within stated tolerances: does a regenerated report match the reference?

Training on another machine, library version or thread count changes float rounding, so numbers are compared
with absolute tolerances per metric (below), and the verdicts must agree exactly. No Keras import.
"""
from __future__ import annotations

from replicate.fileio import read_json

#: Absolute tolerance per aggregated metric mean (seed mean of a run group). Unlisted metrics use DEFAULT.
TOLERANCE = {
    "ssim": 0.01, "ssim_skimage": 0.01, "ssim_midtone": 0.01,
    "psnr_mean_of_images": 0.3, "psnr_of_mean_mse": 0.3,
    "sharpness": 0.03, "sharpness_midtone": 0.03, "hf_energy_ratio": 0.03,
    "midtone_extreme_rmse_ratio": 0.1,
}
DEFAULT = 0.005  # RMSE, MSE, MAE, bias, bce_kl and losses: intensities or nats per pixel
VERDICT_FIELDS = ("status", "blur", "textbook")


def compare(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two results (empty when they match within tolerance)."""
    out = []
    if a.get("schema_version") != b.get("schema_version"):
        return [f"schema_version differs: {a.get('schema_version')} vs {b.get('schema_version')}"]
    groups_a, groups_b = _aggregates_by_key(a), _aggregates_by_key(b)
    for key in sorted(groups_a.keys() ^ groups_b.keys()):
        out.append(f"{'/'.join(key)}: only in {'first' if key in groups_a else 'second'}")
    for key in sorted(groups_a.keys() & groups_b.keys()):
        for section in ("metrics", "final"):
            ma, mb = groups_a[key].get(section, {}), groups_b[key].get(section, {})
            for metric in sorted(ma.keys() & mb.keys()):
                va, vb = ma[metric]["mean"], mb[metric]["mean"]
                tol = TOLERANCE.get(metric, DEFAULT)
                if (va is None) != (vb is None) or (va is not None and abs(va - vb) > tol):
                    out.append(f"{'/'.join(key)} {section}.{metric}: {va} vs {vb} (tolerance {tol})")
    verdicts_a = {(v["dataset"], v["model"]): v for v in a.get("verdicts", [])}
    verdicts_b = {(v["dataset"], v["model"]): v for v in b.get("verdicts", [])}
    for key in sorted(verdicts_a.keys() & verdicts_b.keys()):
        for field in VERDICT_FIELDS:
            if verdicts_a[key].get(field) != verdicts_b[key].get(field):
                out.append(f"{'/'.join(key)} verdict {field}: {verdicts_a[key].get(field)!r} vs "
                           f"{verdicts_b[key].get(field)!r}")
    return out


def compare_files(path_a, path_b) -> list[str]:
    """:func:`compare` on two ``results.json`` files."""
    return compare(read_json(path_a), read_json(path_b))


def _aggregates_by_key(results: dict) -> dict[tuple[str, str, str], dict]:
    return {(g["dataset"], g["model"], g["loss"]): g for g in results.get("aggregates", [])}
