"""The post's reported losses beside this sweep's: per reported number, the model run that matches the post's
version (the current post's adam, or the 2016-2017 versions' adadelta), its measured loss (mean and CI over
seeds), the difference, the tolerance and a status: replicated, not replicated, or not run."""
from __future__ import annotations

from dataclasses import asdict

from replicate import tutorial, vocabulary
from replicate.config import post_steps, step_budget_epochs
from replicate.analysis.stats import t_interval
from replicate.vocabulary import BASELINE

#: |measured mean - reported| at or below this (absolute, loss units) counts as replicated. The post gives its
#: numbers to two significant digits ("about 0.09"), so half a unit of its last digit plus run-to-run spread.
REPLICATION_TOLERANCE = 0.01
#: Profiles and datasets that follow the post's protocol (optimizer-step budget, the post's data).
PROTOCOL_PROFILES = ("replication", "tutorial")
MNIST_SETS = ("mnist", "mnist10k")


def _variants(rep: tutorial.Reported) -> list[str]:
    """The model keys that match a reported number's post version."""
    adadelta = f"{rep.model}_adadelta" if f"{rep.model}_adadelta" in vocabulary.MODELS else None
    if rep.version.startswith("V3"):
        return [rep.model]
    if rep.version.startswith("V1"):
        return [adadelta] if adadelta else []
    return [rep.model] + ([adadelta] if adadelta else [])


def step_budget_matched(model: str, dataset: str, protocol_used: dict, epochs: list) -> bool:
    """Whether every run of ``model`` trained the post's optimizer steps: on the whole training set, for exactly
    the epochs that give them there (:func:`config.step_budget_epochs`; on a smaller set each image is then seen
    proportionally more often)."""
    train = protocol_used.get("train_limit")
    train = train.get(model) if isinstance(train, dict) else train
    need = step_budget_epochs(model, dataset)
    return bool(epochs) and train is None and all(e == need for e in epochs)


def compared_value(rep: tutorial.Reported, run: dict) -> tuple[str, float | None]:
    """What a reported number is compared with, in words, and its value in one run's record (or status.json):
    ``final`` (or ``final_loss`` and ``final_val_loss``) and ``test_reconstruction_loss``."""
    final = run.get("final") or {"loss": run.get("final_loss"), "val_loss": run.get("final_val_loss")}
    if rep.split == "train":
        return "final train loss", final.get("loss")
    if rep.split == "test" and rep.model == "sparse":
        # Keras 1 left the activity penalty out of the test loss; Keras 3 adds it, so it is taken off here.
        return "test loss without the penalty", run.get("test_reconstruction_loss")
    return "final validation loss", final.get("val_loss")


def replication(runs: list[dict], aggregates: list[dict], config: dict) -> list[dict]:
    """One row per (reported number, matching model) for every model of the post the sweep could have run."""
    profile, dataset = config.get("profile"), config.get("dataset")
    at_protocol = profile in PROTOCOL_PROFILES and dataset in MNIST_SETS
    aggs = {(a["dataset"], a["model"]): a for a in aggregates if a["loss"] == BASELINE}
    by_model = {}
    for r in runs:
        if r["loss"] == BASELINE:
            by_model.setdefault((r["dataset"], r["model"]), []).append(r)
    protocol_used = {"profile": profile, "dataset": dataset, "epochs": config.get("epochs"),
                     "train_limit": config.get("train_limit"), "test_limit": config.get("test_limit")}
    rows = []
    for rep in tutorial.REPORTED:
        for model in _variants(rep):
            agg, group = aggs.get((dataset, model)), by_model.get((dataset, model), [])
            tut = tutorial.PROTOCOLS[vocabulary.model(model).post_model]
            row = {"dataset": dataset, "model": model, "reported": asdict(rep), "tolerance": REPLICATION_TOLERANCE,
                   "protocol_used": protocol_used, "tutorial_protocol": asdict(tut),
                   "optimizer": vocabulary.model(model).optimizer or tut.optimizer, "measured": None,
                   "difference": None, "seeds": [r["seed"] for r in group]}
            row["compared_with"] = compared_value(rep, {})[0]
            values = [v for r in group for v in [compared_value(rep, r)[1]] if v is not None]
            if agg is None or not values:
                row["status"] = "not run"
                row["why"] = "no finished BCE run of this model in this sweep"
            elif not at_protocol:
                row["status"] = "not run"
                row["why"] = (f"this sweep ({profile} profile on {dataset}) is not the post's protocol on MNIST; "
                              "run --profile replication")
                row["measured"] = t_interval(values)
            elif not step_budget_matched(model, dataset, protocol_used,
                                         [(r.get("training") or {}).get("epochs") for r in group]):
                row["status"] = "not run"
                row["why"] = (f"its runs did not all train the post's {post_steps(model):,} optimizer steps "
                              f"({step_budget_epochs(model, dataset)} epochs of every training image here); "
                              "run --profile replication without --epochs or --train-limit")
                row["measured"] = t_interval(values)
            else:
                row["measured"] = t_interval(values)
                row["difference"] = row["measured"]["mean"] - rep.value
                row["status"] = "replicated" if abs(row["difference"]) <= REPLICATION_TOLERANCE else "not replicated"
            rows.append(row)
    return rows
