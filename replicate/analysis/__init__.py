"""Sweep-level analysis: every judgement the report shows, computed from a sweep folder and written to
``results.json`` (and a tidy ``results.csv``). It does not train, plot or render, imports no deep-learning
backend, and running it twice gives byte-identical files.

One module per part: ``runs`` reads the folder (status, learning curve, per-image metrics cached as
``<run>/metrics.npz``) and aggregates; ``screening`` screens out collapsed and diverged runs; ``stats`` holds the
tests; ``verdicts`` answers the question on the pre-registered primary endpoint; ``theory_checks`` sets the
closed-form theory beside the measurements; ``mechanism`` holds the factorial, capacity and saturation analyses;
``learning`` convergence and penalties; ``replication`` the post's numbers; ``selection`` what the report shows;
``methods`` every definition.

results.json (``schema_version`` 4), top-level keys:

- ``sweep``: ``config`` (the frozen sweep config, endpoint and margin included) and ``provenance``.
- ``methods``: every definition the numbers depend on.
- ``data``: per dataset, its scored test ``images`` and the share of their pixels in each intensity band
  (``band_fraction``), which sets how much the losses' weighting of intensities can matter.
- ``runs``: one entry per usable run: identity, ``backend``, ``final``, ``training`` (epochs, steps, floor,
  stopped, converged, last_improvement), ``screen``, ``penalty``, ``metrics`` (its learning curve, bands and fine
  bins stay in its folder; the convergence block and the aggregates summarise them).
- ``screened``: runs screened out (collapsed or diverged), with their ``screen`` verdict and reasons.
- ``missing``: runs that did not finish: identity, ``status`` and ``reason``.
- ``sensitivity``: per group with screened-out runs, the primary metric with and without them.
- ``aggregates``: per (dataset, model, loss): ``seeds`` and, over seeds, ``metrics``, ``final``, ``bands``
  as ``{n, mean, std, ci95}``, and ``fine`` curves.
- ``comparisons``: per (dataset, model, loss != bce, metric): loss - bce paired by seed (``seed_level``) and by
  image (``image_level``: each seed's paired-t p over images, and a pooled Wilcoxon signed-rank test).
- ``verdicts``: per (dataset, model): ``role`` (primary or sensitivity), the primary endpoint's paired
  ``difference`` and ``tost``, Holm-adjusted ``p_holm`` and ``tost_p_holm``, ``status`` (worse, better,
  equivalent, inconclusive, insufficient seeds, not available), descriptive ``secondary`` measures, ``blur``,
  ``textbook`` and ``convergence``.
- ``answer``: the one-word answer over the primary verdicts, the models per status, those not converged.
- ``theory``, ``theory_checks``: closed-form weights, gradients and logit curvature; the weighting's prediction
  per loss and extreme group at the observed error size, against the measured ratio.
- ``mechanism``: ``factorial`` effects, ``capacity`` (gap against code size), ``saturation`` curves.
- ``convergence``, ``penalties``: how each group trained; the weight of the sparse and VAE penalties.
- ``replication``: per reported number of the post and matching model: measured, difference, status.
- ``groups``, ``recommendation``, ``gallery``: what the report shows.

results.csv: columns ``dataset, model, loss, seed, metric, value``; one row per usable run and metric (the scalar
metrics, the final losses and each band's RMSE).
"""
from __future__ import annotations

import csv
import io
import shlex
from pathlib import Path

import numpy as np

from replicate.analysis import learning, mechanism, methods, replication, runs, selection, theory_checks, verdicts
from replicate.analysis.runs import ArtifactError, read_artifact
from replicate.analysis.screening import screen
from replicate.analysis.selection import GALLERY_IMAGES
from replicate.analysis.stats import holm, paired_test, t_interval, tost, wilcoxon_test
from replicate.config import ENDPOINTS, MIN_IMPROVEMENT, check_fraction, check_margin, settings_digest
from replicate.metrics import band_fractions
from replicate.fileio import read_json, write_json, write_text

SCHEMA_VERSION = 4

__all__ = ["ArtifactError", "GALLERY_IMAGES", "SCHEMA_VERSION", "evaluate_sweep", "holm", "paired_test", "screen",
           "t_interval", "tost", "wilcoxon_test"]


def _nothing_usable(sweep: Path, collected: dict) -> str:
    """Why no run of the sweep can be evaluated, with each kind's own remedy: the same command again skips a run
    whose status says done (a screened-out one, or one whose files are missing), so it is not always the fix."""
    counts = ", ".join(f"{len(v)} {k}" for k, v in collected.items() if v)
    text = f"no run of {sweep} is usable ({counts}), so there is nothing to evaluate; results.json was left as it was."
    missing, screened = collected["missing"], collected["screened"]
    by_status: dict[str, list[dict]] = {}
    for m in missing:
        by_status.setdefault(m["status"], []).append(m)
    for status, runs in by_status.items():  # one example of each kind, with its own remedy
        more = f" (and {len(runs) - 1} more {status})" if len(runs) > 1 else ""
        text += f" {runs[0]['path']} ({status}): {runs[0]['reason']}{more}."
    if by_status.keys() & {"pending", "failed"}:
        text += " The sweep's command trains the pending and failed runs again."
    if screened:
        capped = sum(m["screen"]["verdict"] == "collapsed" and (m.get("training") or {}).get("stopped") == "epoch cap"
                     for m in screened)
        text += f" {len(screened)} run(s) were screened out, and the same command keeps them as they are."
        if capped:
            text += f" {capped} collapsed at their epoch cap: more --epochs, into a new folder, may train them."
        if capped < len(screened):
            text += (f" {len(screened) - capped} diverged, or collapsed before their cap: with these settings they "
                     "would end the same way again, so more epochs do not help.")
    return text


def evaluate_sweep(sweep_dir, *, force: bool = False, progress=None) -> Path:
    """Compute (or reuse) every run's metrics and write ``results.json`` and ``results.csv`` in the sweep.

    Parameters
    ----------
    sweep_dir : path-like
        Folder holding ``sweep.json`` (layout in the module docstring).
    force : bool, optional
        Recompute every run's ``metrics.npz`` even when it is newer than ``reconstructions.npz``.
    progress : callable, optional
        Called as ``progress(done, total)`` while the runs are read (their metrics take seconds each when new).

    Returns
    -------
    Path
        The written ``results.json``.

    Raises
    ------
    ValueError
        If ``sweep.json`` is missing or malformed, or no run of the sweep is usable (every one failed, is
        pending or was screened out); nothing is written then, so good results are never replaced by empty ones.
    """
    sweep = Path(sweep_dir)
    if not (sweep / "sweep.json").exists():
        raise ValueError(f"{sweep} holds no sweep.json; pass the folder a sweep wrote")
    spec = read_artifact(sweep / "sweep.json", "the sweep index", ("config", "runs"))
    if not isinstance(spec["runs"], list) or not spec["runs"] or not isinstance(spec["config"], dict):
        raise ArtifactError(f"{sweep / 'sweep.json'} lists no runs; it is damaged. Run the sweep's command again "
                            "to rewrite it.")
    problem = _spec_problem(spec)
    if problem:
        raise ArtifactError(f"{sweep / 'sweep.json'}: {problem}. The file is damaged or was edited by hand; run the "
                            "sweep's command again to rewrite it.")
    config = spec["config"]
    provenance = _provenance(sweep, settings_digest(config), _trained_by(sweep, spec))
    targets = {}
    for dataset in dict.fromkeys(str(r.get("dataset")) for r in spec["runs"]):
        targets[dataset] = runs.load_targets(sweep / dataset / "targets.npz")
        if isinstance(targets[dataset], str):
            raise ArtifactError(targets[dataset])
    collected, images = runs.collect(sweep, spec, targets, force, progress)
    if not collected["runs"]:
        raise ArtifactError(_nothing_usable(sweep, collected))
    results = {"schema_version": SCHEMA_VERSION, "sweep": {"config": config, "provenance": provenance},
               "methods": methods.methods(config), **collected}
    results["sensitivity"] = runs.sensitivity(results, config.get("endpoint") or "rmse_midtone")
    results["aggregates"] = runs.aggregates(results["runs"])
    results["comparisons"] = runs.comparisons(results["runs"], images)
    results["verdicts"] = verdicts.verdicts(results["runs"], config)
    results["answer"] = verdicts.answer(results["verdicts"])
    results["groups"] = selection.planned_groups(results)
    results["theory"] = theory_checks.theory_section(results["aggregates"])
    counts = {d: theory_checks.level_counts(t) for d, t in targets.items()}
    results["data"] = {d: {"images": len(targets[d]), "band_fraction": band_fractions(c)} for d, c in counts.items()}
    results["theory_checks"] = theory_checks.checks(results, counts)
    results["mechanism"] = {"factorial": mechanism.factorial(results["runs"]),
                            "capacity": mechanism.capacity(results["runs"]),
                            "saturation": mechanism.saturation(results["runs"])}
    results["convergence"] = learning.convergence(results["runs"], config)
    results["penalties"] = learning.penalties(results["runs"])
    results["replication"] = replication.replication(results["runs"], results["aggregates"], config)
    results["recommendation"] = selection.recommendation(results)
    results["gallery"] = selection.gallery_choice(sweep, results, targets)
    csv_text = _csv(results["runs"])
    results["runs"], results["screened"] = runs.for_json(results["runs"]), runs.for_json(results["screened"])
    path = write_json(sweep / "results.json", _jsonable(results), compact=True)
    write_text(sweep / "results.csv", csv_text)
    return path


def _spec_problem(spec: dict) -> str | None:
    """What is wrong with a sweep index's pre-registered endpoint, margin and settling threshold, or its run entries
    (None if nothing)."""
    endpoint, margin = spec["config"].get("endpoint"), spec["config"].get("margin")
    if endpoint is not None and endpoint not in ENDPOINTS:
        return f"unknown endpoint {endpoint!r} (one of {', '.join(ENDPOINTS)})"
    try:
        if margin is not None:
            check_margin(margin)
        if spec["config"].get("min_improvement") is not None:
            check_fraction("min_improvement", spec["config"]["min_improvement"], MIN_IMPROVEMENT)
    except ValueError as err:
        return str(err)
    for i, entry in enumerate(spec["runs"]):
        kinds = {"dataset": str, "model": str, "loss": str, "seed": int, "path": str}
        bad = [k for k, kind in kinds.items() if not isinstance(entry, dict) or not isinstance(entry.get(k), kind)
               or isinstance(entry.get(k), bool)]
        if bad:
            return f"run entry {i} lacks a valid {', '.join(bad)}"
    return None


def _processes(record: dict) -> list[dict]:
    """A provenance file's records: those of the processes that wrote it before (``earlier``), then its own."""
    earlier = record.get("earlier")
    own = {k: v for k, v in record.items() if k != "earlier"}
    return [*(r for r in earlier if isinstance(r, dict)), own] if isinstance(earlier, list) else [own]


def _provenance(sweep: Path, settings: str | None, trained_by: tuple[set, bool]) -> dict | None:
    """The sweep's provenance. Where several processes trained it (shards; a sweep started whole and finished as
    shards, or the other way round; a resumed one): that of the earliest started of those that trained the runs now
    there (:func:`_present`; ``settings``: the digest of the sweep's present settings), with the command of a whole
    run (a shard's without its ``--shard``), the backends of them all, each one's record under ``shards`` (in shard
    order, then oldest first), the last finish, and under ``differs`` the fields in which they disagree."""
    paths = [p for p in [sweep / "provenance.json"] if p.exists()] + sorted(sweep.glob("provenance-shard-*.json"))
    files = [_processes(read_artifact(p, "the sweep's provenance")) for p in paths]
    records = sorted((r for f in files for r in f), key=_shard_order)
    if not records or (len(records) == 1 and records[0].get("shard", "1/1") == "1/1"):
        return records[0] if records else None
    first = min(_present(files, settings, trained_by),
                key=lambda r: (not r.get("started"), str(r.get("started") or ""), _shard_order(r)))
    whole = [r for r in records if r.get("shard", "1/1") == "1/1"]
    command = whole[-1].get("command") if whole else _without_shard(first.get("command"))
    backends = dict.fromkeys(b for r in records for b in str(r.get("backend") or "").split(" and ") if b)
    differs = [k for k in ("git", "versions", "device", "platform", "numerics", "data", "fused")
               if any(_compared(r, k) != _compared(first, k) for r in records)]
    if len({str(r["settings_sha256"]) for r in records if r.get("settings_sha256")}) > 1:
        differs.append("settings_sha256")  # records from before the digest was kept do not count as differing
    return {**first, "command": command, "backend": " and ".join(backends), "shards": records,
            "finished": max(str(r.get("finished") or "") for r in records) or None,
            **({"differs": differs} if differs else {})}


def _present(files: list[list[dict]], settings: str | None, trained_by: tuple[set, bool] = (set(), True)) -> list[dict]:
    """The processes whose runs are in the folder. ``trained_by``: the process ids the runs' status.json files name,
    and whether some finished run names none (trained by a version before the ids). Those runs' processes are found
    by order: the records without an id that have the settings of the last of them (the present ``settings`` where
    no run names an id) and came after every one with other settings, records from before the digest only where
    none has it. ``files``: each provenance file's records, oldest first; within a file the order says which came
    first (starts are recorded to the second); between files the start time, and only a whole run's record (not a
    shard's) replaces another file's. Where every run names an id, records without one trained none of them; an id
    that names no record (a provenance file lost) leaves the others named, or, where none is left, every record."""
    stamps, unstamped = trained_by
    everyone = [r for records in files for r in records]
    named = [r for r in everyone if _process(r) in stamps]
    if not unstamped:
        return named or everyone
    tagged = [(i, j, r) for i, records in enumerate(files) for j, r in enumerate(records) if not _process(r)]
    if named and tagged:  # the last process before the ids: the latest start, and within a file the last
        settings = max(tagged, key=lambda t: (str(t[2].get("started") or ""), t[1]))[2].get("settings_sha256")
    others = [(i, j, str(r.get("started") or ""), r.get("shard", "1/1") == "1/1") for i, j, r in tagged
              if r.get("settings_sha256") not in (None, settings)]
    after = [r for i, j, r in tagged
             if all(j > oj if i == oi else not whole or str(r.get("started") or "") >= started
                    for oi, oj, started, whole in others)]
    older = ([r for r in after if r.get("settings_sha256") == settings]
             or [r for r in after if r.get("settings_sha256") is None])
    return named + older or everyone


def _process(record: dict) -> str | None:
    """The process id of a provenance record or a run's status.json (None for one from before the ids, or one edited
    into another type)."""
    value = record.get("process")
    return value if isinstance(value, str) and value else None


def _trained_by(sweep: Path, spec: dict) -> tuple[set, bool]:
    """The process ids that the finished runs' status.json files name, and whether some finished run names none."""
    stamps, unstamped = set(), False
    for entry in spec["runs"]:
        try:
            status = read_json(sweep / str(entry.get("path")) / "status.json")
        except (OSError, ValueError):
            continue
        if not isinstance(status, dict) or status.get("status") != "done":
            continue
        pid = _process(status)
        if pid:
            stamps.add(pid)
        else:
            unstamped = True
    return stamps, unstamped


def _compared(record: dict, key: str):
    """A provenance field as processes are compared: the data by their checksums (not where they were read)."""
    value = record.get(key)
    if key == "data" and isinstance(value, dict):
        return {split: src.get("sha256") if isinstance(src, dict) else src for split, src in value.items()}
    return value


def _shard_order(record: dict) -> tuple:
    """Sort key of a process's provenance: a whole run first, then shards by count and index as numbers."""
    try:
        index, count = (int(v) for v in str(record.get("shard", "1/1")).split("/"))
    except ValueError:
        return (1, 0, 0)
    return (0, count, index)


def _without_shard(command: str | None) -> str | None:
    """A shard's command line without its ``--shard I/N``: the command that trains the whole sweep."""
    if not command:
        return command
    words, out = shlex.split(command), []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--shard":
            skip = True
        elif not word.startswith("--shard="):
            out.append(word)
    return shlex.join(out)


def _jsonable(obj):
    """Plain Python types for JSON (numpy scalars and arrays converted)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    return obj


def _csv(records: list[dict]) -> str:
    """Tidy table: one row per usable run and metric."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "model", "loss", "seed", "metric", "value"])
    for r in records:
        ident = [r[k] for k in runs.IDENTITY]
        values = dict(r["metrics"])
        values["final_loss"] = (r["final"] or {}).get("loss")
        values["final_val_loss"] = (r["final"] or {}).get("val_loss")
        for b, row in r["bands"].items():
            values[f"band_{b}_rmse"] = row["rmse"]
        for metric, value in values.items():
            writer.writerow([*ident, metric, repr(runs.num(value))])
    return buf.getvalue()
