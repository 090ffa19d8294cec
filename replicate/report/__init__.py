"""The sweep's report: one self-contained HTML file built from ``results.json`` (and, when present, the
reconstructions) with a Jinja2 template and matplotlib figures.

:func:`write_report` reads ``<sweep>/results.json`` (running :func:`replicate.analysis.evaluate_sweep` first
when it is absent), turns it into a template context and renders ``templates/report.html.j2`` with autoescaping
on. One module per section formats what ``analysis`` judged: ``answer``, ``mechanism`` (with the worked example),
``tested`` (the mechanism's ablations), ``evidence``, ``gallery``, ``replication``, ``alternatives``, ``limitations`` and ``reproduce``; ``format`` is
the one number formatter and ``view`` indexes ``results.json``; ``summary`` writes the README's results table. Figures are embedded as ``data:`` URIs and the
stylesheet is inlined, so the file opens from disk and loads nothing from the network.

It makes no judgement, computes no statistic and imports no deep-learning backend.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from replicate.fileio import read_json, write_text
from replicate.report import (alternatives, answer, evidence, gallery, limitations, mechanism, replication,
                              reproduce, tested)
from replicate.report.format import fmt
from replicate.report.view import Results

TEMPLATES = Path(__file__).parent / "templates"


def write_report(sweep_dir, out=None) -> Path:
    """Write the sweep's self-contained HTML report and return its path.

    Parameters
    ----------
    sweep_dir : path-like
        A sweep folder. ``results.json`` is computed first (:func:`replicate.analysis.evaluate_sweep`) when
        it is missing; ``targets.npz`` and the runs' ``reconstructions.npz`` are optional.
    out : path-like, optional
        The HTML file; default ``<sweep_dir>/report.html``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        If the folder holds neither ``results.json`` nor ``sweep.json``, or its ``results.json`` cannot be read or
        was written by another version of the analysis (the message says to run ``replicate evaluate``).
    """
    sweep = Path(sweep_dir)
    results_path = sweep / "results.json"
    if not results_path.exists():
        from replicate import analysis

        analysis.evaluate_sweep(sweep)
    html = render(read_results(results_path), sweep)
    return write_text(Path(out) if out is not None else sweep / "report.html", html)


#: The ``results.json`` schema this report reads (``replicate.analysis.SCHEMA_VERSION``, without importing it).
SCHEMA_VERSION = 4
_REQUIRED = ("sweep", "methods", "data", "runs", "screened", "missing", "aggregates", "comparisons", "verdicts", "answer",
             "theory", "theory_checks", "mechanism", "convergence", "replication", "groups", "recommendation",
             "gallery")


def read_results(path: Path) -> dict:
    """``results.json``, checked to be the schema this report reads; a ValueError names the file otherwise."""
    import json

    try:
        results = read_json(path)
    except (FileNotFoundError, IsADirectoryError) as err:
        what = "is a folder" if isinstance(err, IsADirectoryError) else "does not exist"
        raise ValueError(f"{path} {what}; pass the results.json of a sweep ('replicate evaluate SWEEP_DIR' writes "
                         "it)") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} cannot be read ({err}); run 'replicate evaluate {path.parent}' to rewrite it") from err
    version = results.get("schema_version") if isinstance(results, dict) else None
    missing = [k for k in _REQUIRED if not isinstance(results, dict) or k not in results]
    if version != SCHEMA_VERSION or missing:
        raise ValueError(f"{path} is {'schema ' + str(version) if version else 'not a results file'}"
                         + (f" and lacks {', '.join(missing)}" if missing else "")
                         + f"; this report reads schema {SCHEMA_VERSION}. Run 'replicate evaluate {path.parent}' to "
                         "rewrite it from the sweep's files.")
    return results


def render(results: dict, sweep_dir=None) -> str:
    """The report's HTML for ``results`` (the parsed ``results.json``); pixels are read from ``sweep_dir``."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**build_context(results, sweep_dir))


def build_context(results: dict, sweep_dir=None) -> dict:
    """Everything the template shows, as formatted strings, rows and figure URIs."""
    s = Results(results)
    return {
        "conf": fmt(100 * s.methods.get("confidence", 0.95), 0),
        "header": answer.header(s),
        "answer": answer.answer(s),
        "worked": mechanism.worked_example(results["theory"]["worked_example"]),
        "mechanism": mechanism.mechanism(s),
        "tested": tested.tested(s),
        "evidence": evidence.evidence(s),
        "gallery": gallery.gallery(s, sweep_dir),
        "replication": replication.replication(s),
        "alternatives": alternatives.alternatives(s),
        "limitations": limitations.limitations(s),
        "reproduce": reproduce.reproduce(s),
    }
