"""How the runs trained: per (dataset, model, loss) the mean learning curve, the optimizer steps taken, how many
runs met the convergence rule and their last epoch's improvement; and, for models with a penalty of their own
(the sparse model's L1, the VAE's KL), how much that penalty weighs against each loss."""
from __future__ import annotations

import numpy as np

from replicate.analysis.runs import num, runs_by_group
from replicate.analysis.stats import t_interval
from replicate.config import MIN_IMPROVEMENT


def threshold(sweep_config: dict) -> float:
    """The relative improvement below which a learning curve counts as settled: the sweep's ``min_improvement``, the
    convergence rule's threshold."""
    return sweep_config.get("min_improvement") or MIN_IMPROVEMENT


def convergence(runs: list[dict], sweep_config: dict) -> list[dict]:
    """Per (dataset, model, loss): the mean learning curve over seeds, its last-epoch relative drop (descriptive), and
    the runs' steps, convergence and last improvement on the excess over the loss's floor (the convergence rule's
    measure: a loss with a high floor, such as BCE's, barely moves in raw terms while it still learns). Settled: the
    runs' mean last improvement is below :func:`threshold`."""
    out, settled_below = [], threshold(sweep_config)
    for (dataset, model, loss), group in runs_by_group(runs).items():
        curve = mean_history(group)
        drop = None
        if curve and len(curve["val"]) >= 2 and curve["val"][-2]:
            drop = (curve["val"][-2] - curve["val"][-1]) / abs(curve["val"][-2])
        last = t_interval([num(r["training"]["last_improvement"]) for r in group])
        steps = [r["training"]["steps"] for r in group if r["training"].get("steps") is not None]
        out.append({"dataset": dataset, "model": model, "loss": loss, "learning_curve": curve,
                    "last_epoch_drop": drop,
                    "settled": None if last["mean"] is None else last["mean"] < settled_below,
                    "runs": len(group), "converged": sum(bool(r["training"]["converged"]) for r in group),
                    "not_converged_seeds": [r["seed"] for r in group if not r["training"]["converged"]],
                    "epochs": t_interval([r["training"]["epochs"] for r in group]),
                    "steps": {"mean": float(np.mean(steps)), "min": min(steps), "max": max(steps)} if steps else None,
                    "floor": t_interval([num(r["training"]["floor"]) for r in group])["mean"],
                    "last_improvement": last})
    return out


def mean_history(runs: list[dict]) -> dict | None:
    """Mean over seeds of the learning curves (truncated to the shortest)."""
    hist = [r["history"] for r in runs if r.get("history") and r["history"].get("val_loss")]
    if not hist:
        return None
    n = min(len(h["val_loss"]) for h in hist)

    def mean(key):
        rows = [[np.nan if v is None else v for v in (h.get(key) or [None] * n)[:n]] for h in hist]
        arr = np.array(rows, dtype=float)
        ok = ~np.isnan(arr)
        return [float(arr[ok[:, j], j].mean()) if ok[:, j].any() else None for j in range(n)]

    epochs = hist[0].get("epoch") or list(range(1, n + 1))
    return {"epoch": epochs[:n], "val": mean("val_loss"), "train": mean("loss")}


def penalties(runs: list[dict]) -> list[dict]:
    """Per (dataset, model, loss) whose runs record a penalty of their own: its coefficient and value, and its size
    relative to the reconstruction loss's excess over its floor on the test images (the weight it carries)."""
    out = []
    for (dataset, model, loss), group in runs_by_group(runs).items():
        rows = [r for r in group if r.get("penalty")]
        if not rows:
            continue
        ratio = [num(r["penalty"]["value"]) / (num(r["test_reconstruction_loss"]) - num(r["training"]["floor"]))
                 if r.get("test_reconstruction_loss") is not None else float("nan") for r in rows]
        out.append({"dataset": dataset, "model": model, "loss": loss, "kind": rows[0]["penalty"]["kind"],
                    "coefficient": rows[0]["penalty"]["coefficient"],
                    "value": t_interval([r["penalty"]["value"] for r in rows]),
                    "term": t_interval([r["penalty"]["term"] for r in rows]),
                    "code_mean": t_interval([num(r["penalty"].get("code_mean")) for r in rows]),
                    "reconstruction_loss": t_interval([num(r.get("test_reconstruction_loss")) for r in rows]),
                    "relative_to_excess": t_interval(ratio)})
    return out
