"""The report's reconstructions: the test images and runs that ``results.json`` chose, drawn from the sweep's
pixel files (``targets.npz`` and each run's ``reconstructions.npz``) when they are there."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from replicate import data, figures
from replicate.fileio import read_npz
from replicate.report.format import fmt
from replicate.report.view import Results
from replicate.vocabulary import loss_label


def gallery(s: Results, sweep_dir) -> dict:
    """Same test images under every loss of each model, with error maps and midtone crops, when pixels exist."""
    if sweep_dir is None:
        return {"available": False, "note": "No sweep folder was given, so no reconstructions could be read."}
    sweep = Path(sweep_dir)
    midtone = s.midtone_range() or (0.3, 0.7)
    models, notes, chosen_all = [], [], []
    crop = None
    for choice in s.r.get("gallery", []):
        dataset = choice["dataset"]
        targets = _read(sweep / dataset / "targets.npz", "images")
        if choice.get("images") is None or targets is None:
            notes.append(choice.get("note") or f"{dataset}: no readable targets.npz")
            continue
        crop = choice["crop"]
        chosen = np.asarray(choice["images"], dtype=np.int64)
        targets = data.to_unit(targets).astype(np.float64)
        boxes = [tuple(b) for b in choice["boxes"]]
        shown = {key.split("/")[0] for key in choice["runs"]}
        for ds, model in [m for m in s.models if m[0] == dataset and m[1] in shown]:
            recons, seeds = {}, {}
            for loss in s.losses_of(ds, model):
                run = choice["runs"].get(f"{model}/{loss}")
                arr = _read(sweep / run["path"] / "reconstructions.npz", "recon", targets.shape) if run else None
                recons[loss] = None if arr is None else arr[chosen].astype(np.float64)
                if arr is not None:
                    seeds[loss] = run["seed"]
            if all(v is None for v in recons.values()):
                notes.append(f"{s.title(ds, model)}: no readable reconstructions.npz")
                continue
            models.append({"title": s.title(ds, model), "recons": recons, "targets": targets[chosen],
                           "boxes": boxes, "seeds": seeds})
        chosen_all.append(f"{dataset}: " + ", ".join(str(int(i)) for i in choice["test_index"]))
    if not models:
        return {"available": False, "note": "The reconstructions are not in this folder ("
                + "; ".join(notes or ["no runs"]) + "), so the gallery is omitted. Every number in the report "
                "still comes from results.json; run the sweep's command to regenerate the pixels."}
    errors = np.concatenate([np.abs(v - m["targets"]).ravel() for m in models for v in m["recons"].values()
                             if v is not None])
    limit = max(0.05, math.ceil(float(np.quantile(errors, 0.99)) * 20) / 20)
    out = []
    for m in models:
        seeds = sorted(set(m["seeds"].values()))
        out.append({
            "title": m["title"],
            "grid": figures.gallery(m["targets"], m["recons"], error_limit=limit, midtone=midtone, boxes=m["boxes"]),
            "crops": figures.midtone_crops(m["targets"], m["recons"], m["boxes"]),
            "seeds": ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(x) for x in seeds),
            "no_run": [loss_label(k) for k, v in m["recons"].items() if v is None],
        })
    return {"available": True, "models": out, "images": "; ".join(chosen_all), "n": len(models[0]["targets"]),
            "limit": fmt(limit, 2), "crop": crop, "midtone": f"({fmt(midtone[0], 1)}, {fmt(midtone[1], 1)}]",
            "notes": notes}


def _read(path: Path, key: str, shape=None) -> np.ndarray | None:
    """An array from a sweep's ``.npz`` when readable (and, with ``shape``, shaped like the targets), else None."""
    try:
        arr = read_npz(path, (key,))[key]
    except (OSError, ValueError):
        return None
    if shape is None:
        return arr
    arr = arr.reshape(arr.shape[0], *shape[1:]) if arr.size == np.prod(shape) else arr
    return arr if arr.shape == shape else None
