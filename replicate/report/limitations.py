"""The report's limitations: data, budget, convergence, seeds, hardware and the runs that did not finish."""
from __future__ import annotations

from replicate import data
from replicate.report.format import fmt, join, plural
from replicate.report.view import Results
from replicate.vocabulary import BASELINE


def limitations(s: Results) -> dict:
    items = []
    cfg = s.config
    dataset = cfg.get("dataset", s.datasets[0] if s.datasets else "?")
    sizes = data.sizes(dataset) if dataset in data.DATASETS else data.SIZES
    tut = {r["model"]: r["tutorial_protocol"] for r in s.r.get("replication", []) if r.get("tutorial_protocol")}
    if dataset != "mnist":
        items.append(f"Dataset: {dataset}, not the tutorial's MNIST, so the measured losses are not on the scale "
                     "of the numbers the post reports; the replication table flags this.")
    budgets: dict[str, list[str]] = {}
    for _, model in s.models:
        epochs, train = s.config_for("epochs", model), s.config_for("train_limit", model)
        text = "all" if train is None else f"the first {train:,} of {sizes['train']:,}"
        text += " training images" + (f" for {plural(epochs, 'epoch')}" if epochs is not None else "")
        if model in tut and epochs is not None and epochs != tut[model]["epochs"]:
            text += f" (the tutorial: {tut[model]['epochs']})"
        budgets.setdefault(text, []).append(model)
    if budgets:
        items.append("Training budget: " + "; ".join(f"{join(models)}: {text}" for text, models in budgets.items())
                     + ". Fewer images and epochs leave the models further from convergence, which is where a "
                     "loss's weighting matters most.")
    settling = _settling(s)
    if settling:
        items.append(settling)
    test = cfg.get("test_limit")
    subset = "all" if test is None else f"the first {test:,} of {sizes['test']:,}"
    items.append(f"Evaluation on {subset} test images.")
    n = len(s.seeds)
    items.append(f"Seeds: {n}. The 95% CIs are Student-t over seeds with {max(n - 1, 0)} degrees of freedom, so they "
                 "are wide and a difference smaller than its CI is not evidence of equality."
                 if n > 1 else "Seeds: 1. No confidence interval and no verdict are possible.")
    device = s.provenance.get("device") or "not recorded"
    devices = sorted({r.get("device") for r in s.runs if r.get("device")})
    other = f" (runs report {', '.join(devices)})" if devices and devices != [device] else ""
    items.append(f"Hardware: {device}{other}"
                 + f"; backend {s.provenance.get('backend', cfg.get('backend', '?'))}"
                 + (", mixed precision" if cfg.get("mixed_precision") else "")
                 + ". Runs on another device or backend follow the same code but are not bit-identical; "
                 "compare sweeps with 'replicate compare'.")
    if s.provenance.get("fused"):
        items.append("Training: the losses of one model and seed (except the sparse model and the VAE, whose own "
                     "penalty terms need a model each) trained side by side as copies in one Keras model, from the "
                     "same initial weights on the same batches. The copies share no weights and each has its own "
                     "loss, so each follows the path it follows alone; the tests check this weight for weight.")
    if cfg.get("optimizer"):
        items.append(f"Optimizer: {cfg['optimizer']} for every loss, with the same learning rate; no loss was tuned "
                     "on its own, so a loss that needs another learning rate is at a disadvantage.")
    avg = s.methods.get("ssim", {}).get("averaging")
    if avg:
        items.append(f"SSIM on 28 × 28 images: {avg}, so the outer ring of each image does not count.")
    if s.missing:
        items.append(f"{plural(len(s.missing), 'run')} did not finish (listed below); their groups are averaged "
                     "over fewer seeds, and comparisons use only seeds present for both losses.")
    missing = [{"run": f"{m['dataset']}/{m['model']}/{m['loss']} seed {m['seed']}", "status": m["status"],
                "reason": m.get("reason") or ""} for m in s.missing]
    return {"points": items, "missing": missing}


def _settling(s: Results) -> str | None:
    """How much each model's mean BCE validation loss still fell in its last epoch, as ``results.json`` judged."""
    drops = [(model, c) for dataset, model in s.models
             for c in [s.convergence.get((dataset, model, BASELINE))] if c and c["last_epoch_drop"] is not None]
    if not drops:
        return None
    threshold = s.methods.get("settled_drop")
    moving = [f"{fmt(100 * c['last_epoch_drop'], 2)} % ({model})" for model, c in drops if not c["settled"]]
    if not moving:
        return (f"Learning curves: every model's mean BCE validation loss fell by less than "
                f"{fmt(100 * threshold)} % in its last epoch.")
    return ("Not converged: in the last epoch the mean BCE validation loss still fell by "
            + join(moving) + ". The comparison is between models early in training; the tutorial profile "
            "(--profile tutorial, meant for a GPU) trains to the post's epochs.")
