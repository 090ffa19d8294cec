"""Compare two ``results.json`` files within stated tolerances: does a regenerated report match the reference?

Training on another machine, backend, library version or thread count changes float rounding, so numbers are
compared with absolute tolerances per metric (below); the pre-registered endpoint and margin, each group's usable
seeds, the verdicts and the answer must agree exactly. Two files with nothing in
common, or a number present in one and missing or not finite in the other, never "match". No Keras import.
"""
from __future__ import annotations

import json

from replicate import vocabulary
from replicate.fileio import finite, read_json

#: Absolute tolerance per aggregated metric mean (seed mean of a run group). Unlisted metrics use DEFAULT.
TOLERANCE = {
    "ssim": 0.01, "ssim_skimage": 0.01, "ssim_midtone": 0.01,
    "psnr_mean_of_images": 0.3, "psnr_of_mean_mse": 0.3,
    "sharpness": 0.03, "sharpness_midtone": 0.03, "hf_energy_ratio": 0.03,
    "edge_transfer": 0.03, "edge_transfer_midtone": 0.03,
    "midtone_extreme_rmse_ratio": 0.1, "midtone_zero_rmse_ratio": 0.1, "midtone_open_extreme_rmse_ratio": 0.1,
    "midtone_one_rmse_ratio": 0.1,
}
DEFAULT = 0.005  # RMSE, MSE, MAE, bias, bce_kl and losses: intensities or nats per pixel
VERDICT_FIELDS = ("status", "blur", "textbook")


class MalformedResults(ValueError):
    """A file that is not a results.json this version can compare (the message says which and why)."""


def compare(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two results (empty only when they share groups and match within
    tolerance)."""
    for name, results in (("first", a), ("second", b)):
        if not isinstance(results, dict) or not isinstance(results.get("aggregates"), list):
            raise MalformedResults(f"the {name} file has no 'aggregates' list; it is not a results.json")
    if a.get("schema_version") != b.get("schema_version"):
        return [f"schema_version differs: {a.get('schema_version')} vs {b.get('schema_version')}; run 'replicate "
                "evaluate' on the older sweep first"]
    groups_a, groups_b = _aggregates_by_key(a), _aggregates_by_key(b)
    common = sorted(groups_a.keys() & groups_b.keys())
    out = [] if common else ["the two results have no (dataset, model, loss) group in common"]
    for field in ("endpoint", "margin"):  # verdicts on different pre-registered tests cannot match
        fa, fb = (((r.get("sweep") or {}).get("config") or {}).get(field) for r in (a, b))
        if fa != fb:
            out.append(f"pre-registered {field} differs: {fa!r} vs {fb!r}")
    for key in sorted(groups_a.keys() ^ groups_b.keys()):
        out.append(f"{'/'.join(key)}: only in {'first' if key in groups_a else 'second'}")
    for key in common:
        if groups_a[key].get("seeds") != groups_b[key].get("seeds"):
            out.append(f"{'/'.join(key)} usable seeds: {groups_a[key].get('seeds')} vs {groups_b[key].get('seeds')}")
        for section in ("metrics", "final"):
            ma, mb = groups_a[key].get(section) or {}, groups_b[key].get(section) or {}
            for metric in sorted(ma.keys() | mb.keys()):
                va, vb = (ma.get(metric) or {}).get("mean"), (mb.get(metric) or {}).get("mean")
                tol = TOLERANCE.get(metric, DEFAULT) * (_loss_scale(key[1]) if section == "final" else 1.0)
                if va is None and vb is None:
                    continue
                if not (finite(va) and finite(vb)) or abs(va - vb) > tol:
                    out.append(f"{'/'.join(key)} {section}.{metric}: {va} vs {vb} (tolerance {tol})")
    verdicts_a = {(v["dataset"], v["model"]): v for v in a.get("verdicts", [])}
    verdicts_b = {(v["dataset"], v["model"]): v for v in b.get("verdicts", [])}
    for key in sorted(verdicts_a.keys() ^ verdicts_b.keys()):
        out.append(f"{'/'.join(key)} verdict: only in {'first' if key in verdicts_a else 'second'}")
    for key in sorted(verdicts_a.keys() & verdicts_b.keys()):
        for field in VERDICT_FIELDS:
            if verdicts_a[key].get(field) != verdicts_b[key].get(field):
                out.append(f"{'/'.join(key)} verdict {field}: {verdicts_a[key].get(field)!r} vs "
                           f"{verdicts_b[key].get(field)!r}")
    answers = [(r.get("answer") or {}).get("word") for r in (a, b)]
    if answers[0] != answers[1]:
        out.append(f"answer: {answers[0]!r} vs {answers[1]!r}")
    return out


def _loss_scale(model: str) -> float:
    """Pixels per unit of the model's final losses: 784 for the VAEs, whose losses are summed over an image, so
    their tolerance stays 0.005 nats per pixel; 1 for a model this version does not know."""
    return vocabulary.MODELS[model].loss_scale if model in vocabulary.MODELS else 1.0


def compare_files(path_a, path_b) -> list[str]:
    """:func:`compare` on two ``results.json`` files; a :class:`MalformedResults` names an unreadable one."""
    loaded = []
    for path in (path_a, path_b):
        try:
            loaded.append(read_json(path))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise MalformedResults(f"{path} is not JSON ({err}); pass the results.json of a sweep") from err
        except OSError as err:
            raise ValueError(f"{path} cannot be read ({err.strerror or err}); pass the results.json of a sweep "
                             "('replicate evaluate SWEEP_DIR' writes it)") from err
    try:
        return compare(*loaded)
    except MalformedResults as err:
        raise MalformedResults(f"{path_a} vs {path_b}: {err}") from err
    except (KeyError, TypeError, AttributeError) as err:
        raise MalformedResults(f"{path_a} vs {path_b}: a results file lacks a field ({type(err).__name__}: {err}); "
                               "run 'replicate evaluate' on its sweep to rewrite it") from err


def _aggregates_by_key(results: dict) -> dict[tuple[str, str, str], dict]:
    return {(g["dataset"], g["model"], g["loss"]): g for g in results.get("aggregates", [])}
