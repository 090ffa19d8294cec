"""Tests of ``replicate.report`` on fake sweeps (no training): structure, embedding, escaping, missing runs,
rebuilding from results.json alone, and a headless-browser check of the rendered page."""
from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from replicate import analysis, report
from replicate.report.format import fmt
from replicate.fileio import read_json, write_json
from tests.fake_sweep import write_fake_sweep
from tests.html_page import SECTIONS, parse

XSS = "<script>alert(1)</script>"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
#: Tags whose URL attributes make a browser fetch something.
RESOURCE_TAGS = {"img", "script", "link", "iframe", "frame", "embed", "object", "source", "video", "audio", "track",
                 "input", "image", "use"}


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """Two models x three losses x three seeds; conv/mae seed 1 failed (with markup in its reason), seed 2 never
    ran; the command line carries a script tag. Evaluated, then rendered."""
    root = write_fake_sweep(tmp_path_factory.mktemp("sweep"), models=("simple", "conv"), losses=("bce", "mse", "mae"),
                            failed=[("conv", "mae", 1)], missing=[("conv", "mae", 2)])
    prov = read_json(root / "provenance.json")
    prov["command"] = f"replicate run --out 'x{XSS}'"
    write_json(root / "provenance.json", prov)
    status = root / "fashion_mnist/conv/mae/seed1/status.json"
    write_json(status, {**read_json(status), "reason": "ValueError: <b>boom</b> & more"})
    analysis.evaluate_sweep(root)
    out = report.write_report(root)
    html = out.read_text(encoding="utf-8")
    return root, out, html, parse(html)


def test_default_path_and_all_ten_sections_in_order(fake):
    root, out, html, page = fake
    assert out == root / "report.html"
    assert html.startswith("<!doctype html>")
    assert page.order == SECTIONS
    for sid, sec in page.sections.items():
        assert sec["heading"], f"section {sid} has no h2"
        assert len(sec["text"].split()) > 20, f"section {sid} is nearly empty"


def test_every_figure_is_an_embedded_png(fake):
    _, _, _, page = fake
    assert len(page.images) >= 10  # forest, three mechanism, curves, learning, and a grid + crops per model
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert page.sections["reconstructions"]["images"] == 4


def test_every_table_has_rows(fake):
    _, _, _, page = fake
    assert len(page.tables) >= 7
    for table in page.tables:
        assert table["rows"] > 0, f"empty table in section {table['section']}"


def test_nothing_is_loaded_from_outside(fake):
    _, _, html, page = fake
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    for tag, attr, url in page.urls:
        if tag in RESOURCE_TAGS:
            assert url.startswith("data:"), (tag, attr, url[:60])
        else:
            assert url.startswith("#"), (tag, attr, url)  # only in-page links
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "@import" not in html
    assert "Content-Security-Policy" in html


def test_user_supplied_strings_are_escaped(fake):
    _, _, html, _ = fake
    assert XSS not in html and "<b>boom</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;boom&lt;/b&gt; &amp; more" in html


def test_failed_and_missing_runs_are_marked(fake):
    _, _, html, page = fake
    assert "16 of 18 runs usable" in html
    limitations = page.sections["limitations"]["text"]
    assert "fashion_mnist/conv/mae seed 1" in limitations and "failed" in limitations
    assert "fashion_mnist/conv/mae seed 2" in limitations and "pending" in limitations
    assert 'class="badge partial" title="finished seeds / planned seeds">1/3<' in html
    assert 'class="missing"' in html


def test_numbers_come_from_results_json(fake):
    """Spot checks: the worked example's BCE values, each verdict's BCE midtone RMSE and the command line."""
    root, _, html, page = fake
    results = read_json(root / "results.json")
    for row in results["theory"]["worked_example"]["rows"]:
        assert fmt(row["bce_nats"], 4) in page.sections["worked-example"]["text"]
    for v in results["verdicts"]:
        assert fmt(v["difference"]["bce_mean"], sig=3) in page.sections["answer"]["text"]
        assert v["status"] in ("worse", "better", "equivalent", "inconclusive")
    answer = " ".join(page.sections["answer"]["text"].split())
    assert "pre-registered primary endpoint: midtone RMSE" in answer and "Holm-corrected" in answer
    midtone = results["data"]["fashion_mnist"]["band_fraction"]["midtone"]
    assert f"{100 * midtone:.1f}% of the pixels are midtones" in answer
    assert "replicate run --out" in page.sections["reproduce"]["text"]
    assert "@software{replicate2026" in page.sections["reproduce"]["text"]


def test_screened_runs_are_counted_named_and_their_effect_shown(tmp_path):
    """A collapsed run: the header counts it out, the limitations name it with its reason and the sensitivity note
    gives its group's number with it put back; the screening thresholds are stated."""
    root = write_fake_sweep(tmp_path, seeds=(0, 1, 2, 3), constant=[("simple", "mse", 2)])
    html = report.write_report(root).read_text(encoding="utf-8")
    text = " ".join(parse(html).sections["limitations"]["text"].split())
    assert "7 of 8 runs usable" in html and "1 screened out (collapsed)" in html
    assert "fashion_mnist/simple/mse seed 2" in text and "screened out: collapsed" in text
    assert "near-constant output" in text and "Sensitivity: fashion_mnist/simple/mse rmse_midtone" in text
    assert "below 1 % of the targets'" in text


@pytest.mark.parametrize("sign", [1, -1], ids=["BCE worse", "BCE better"])
def test_opposing_causes_are_told_in_the_direction_each_one_moves_the_error(sign):
    from replicate.report import tested
    from replicate.report.view import Results

    def eff(mean):
        return {"mean": mean, "ci95": [mean - 0.01, mean + 0.01], "excludes_zero": True}

    effects = {"gap": eff(sign * 0.003), "weighting": eff(sign * 0.10), "saturation": eff(-sign * 0.097),
               "interaction": eff(-0.12)}
    f = {"dataset": "fashion_mnist", "model": "simple", "seeds": [0, 1, 2],
         "effects": {o: effects for o in ("rmse_midtone", "midtone_extreme_rmse_ratio", "rmse_extreme")},
         "conclusion": {"key": "opposing causes", "causes": ["weighting"], "opposing": ["gradient shape"]}}
    text = tested._factorial(Results({"sweep": {}, "runs": []}), f)["conclusion"]
    up, down = ("raises", "lowers") if sign > 0 else ("lowers", "raises")
    sign_text = "+" if sign > 0 else "−"
    assert f"BCE's weighting {up} its midtone error ({sign_text}0.10) and its gradient shape {down} it" in text


def test_a_loss_that_beats_bce_is_said_to_rest_on_uncorrected_intervals_and_is_not_recommended():
    """Wins on uncorrected intervals are a secondary, per-comparison reading: named as such, with no advice to prefer
    the loss, nor a claim about datasets the sweep did not measure."""
    from replicate.report import alternatives
    from replicate.report.view import Results

    rec = {"contests": [["fashion_mnist", "simple"], ["fashion_mnist", "deep"]],
           "wins": [{"loss": "mse", "models": [["fashion_mnist", "simple"]]}], "best": []}
    text = alternatives._summary(Results({"sweep": {}, "runs": []}), rec)
    assert "not corrected for the number of losses and models compared, so descriptive" in text
    assert "MSE for 1 of 2 (fashion_mnist/simple). This is not a recommendation of MSE" in text
    assert "prefer" not in text and "MNIST" not in text


@pytest.mark.parametrize("converged,expected", [
    ((0, 0), "None of its runs met the convergence rule within the epoch cap."),
    ((3, 1), "Runs that met the convergence rule within the epoch cap: BCE 3 of 8, MSE 1 of 8."),
])
def test_a_verdict_that_shows_a_difference_does_not_claim_non_equivalence_and_counts_unconverged_runs(converged,
                                                                                                    expected):
    """A failed equivalence test shows no non-equivalence: the 90 % CI here straddles the margin."""
    from replicate.report import answer
    from replicate.report.view import Results

    v = {"dataset": "mnist10k", "model": "simple", "role": "primary", "n_seeds": 8, "status": "worse",
         "difference": {"difference": 0.0105, "ci95": [0.0088, 0.0121], "relative_to_mse": 0.044},
         "tost": {"p_value": 0.9}, "p_holm": 2.9e-6, "tost_p_holm": 1.0, "all_converged": False,
         "convergence": {"bce": {"runs": 8, "converged": converged[0]}, "mse": {"runs": 8, "converged": converged[1]}}}
    text = answer.sentence(Results({"sweep": {"config": {"margin": 0.02}}, "runs": []}), v)
    assert ("BCE worse (Holm-corrected p < 0.001); equivalence within ±2 % not shown (Holm-corrected TOST "
            "p = 1.0).") in text
    assert "not equivalent" not in text and text.endswith(expected)


def test_a_group_whose_every_seed_was_screened_out_says_so():
    from replicate.report import limitations
    from replicate.report.view import Results

    row = {"dataset": "mnist10k", "model": "conv", "loss": "mse", "metric": "rmse_midtone", "screened_seeds": [0, 1],
           "without": {"n": 0, "mean": None, "std": None, "ci95": None},
           "with": {"n": 2, "mean": 0.5138, "std": 0.0, "ci95": [0.5138, 0.5138]}}
    (line,) = limitations._sensitivity(Results({"sweep": {}, "sensitivity": [row]}))
    assert line.startswith("Sensitivity: mnist10k/conv/mse rmse_midtone has no usable seed and would be 0.514 ")
    assert line.endswith("with seeds 0, 1 put back.")


def test_an_old_or_damaged_results_json_is_refused_with_the_fix(tmp_path):
    for content in ('{"schema_version": 2}', "{}", "not json"):
        (tmp_path / "results.json").write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match="replicate evaluate"):
            report.write_report(tmp_path)


def test_template_types_in_no_result_number():
    """Numbers reach the page only through the context: the template holds no decimal number or percentage."""
    text = (report.TEMPLATES / "report.html.j2").read_text(encoding="utf-8")
    assert not re.search(r"\d\.\d|\d\s*%", text)


def test_rebuilds_from_results_json_alone(fake, tmp_path):
    """A folder holding only results.json (as a committed reference report) renders, with a note for the pixels."""
    root, _, _, _ = fake
    shutil.copy(root / "results.json", tmp_path / "results.json")
    html = report.write_report(tmp_path, tmp_path / "elsewhere.html").read_text(encoding="utf-8")
    page = parse(html)
    assert page.order == SECTIONS
    assert page.sections["reconstructions"]["images"] == 0
    assert "gallery is omitted" in page.sections["reconstructions"]["text"]


def test_evaluates_first_when_results_json_is_missing(tmp_path):
    """No results.json: write_report runs the analysis; a lone-seed sweep without MSE still renders, verdict-less."""
    root = write_fake_sweep(tmp_path, losses=("bce", "mse"), seeds=(0,), n_images=6, failed=[("simple", "mse", 0)])
    assert not (root / "results.json").exists()
    page = parse(report.write_report(root).read_text(encoding="utf-8"))
    assert (root / "results.json").exists()
    assert page.order == SECTIONS
    assert "No verdict" in page.sections["answer"]["text"]
    assert "No finished run: MSE" in page.sections["reconstructions"]["text"]
    assert page.sections["reconstructions"]["images"] == 2


def test_gallery_shows_the_images_with_most_midtones(fake):
    """The six targets with the most pixels in (0.3, 0.7], ties to the lower index, listed in test order."""
    import numpy as np

    root, _, _, page = fake
    with np.load(root / "fashion_mnist/targets.npz") as z:
        a, index = z["images"] / 255, z["index"]
    counts = ((a > 0.3) & (a <= 0.7)).sum(axis=(1, 2))
    expected = sorted(sorted(range(len(counts)), key=lambda i: (-counts[i], i))[:analysis.GALLERY_IMAGES])
    listed = ", ".join(str(int(index[i])) for i in expected)
    assert f"fashion_mnist: {listed})" in " ".join(page.sections["reconstructions"]["text"].split())


def test_report_and_analysis_import_no_deep_learning_backend(tmp_path):
    """analysis, report and figures work from numbers alone: importing them loads neither Keras nor TensorFlow."""
    import subprocess

    code = ("import sys; import replicate.analysis, replicate.report, replicate.figures, replicate.vocabulary; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax'))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert json.loads(out.stdout) == []


def _chromium() -> str | None:
    path = Path("/usr/bin/chromium")
    return str(path) if path.exists() else shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_a_headless_browser(fake):
    """Chromium opens the file: no console errors, no failed requests, every image decodes; saves a screenshot."""
    executable = _chromium()
    if executable is None:
        pytest.skip("no chromium at /usr/bin/chromium or on PATH (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    _, out, _, page_info = fake
    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.resolve().as_uri(), wait_until="load")
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert len(widths) == len(page_info.images) and all(w > 0 for w in widths), widths
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_a_loss_the_vocabulary_does_not_know_still_renders(fake, tmp_path):
    """results.json with a loss key renamed (written by another version, say): the report labels it by its key."""
    root = fake[0]

    def rename(node):
        if isinstance(node, dict):
            return {k: ("mae_renamed" if k == "loss" and v == "mae" else rename(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rename(v) for v in node] if node[-1:] != ["mae"] else [*node[:-1], "mae_renamed"]
        return node

    write_json(tmp_path / "results.json", rename(read_json(root / "results.json")))
    page = parse(report.write_report(tmp_path).read_text(encoding="utf-8"))
    assert page.order == SECTIONS and "mae_renamed" in page.sections["evidence"]["text"]


def test_the_report_of_the_committed_results_states_only_what_they_support():
    """From the committed results.json files (their HTML predates these rules): counts of comparisons and reported
    numbers, the step budget only where every run trained the post's steps, every backend that trained runs
    (screened-out runs too), and no convergence claim where the models trained more epochs than the tutorial."""
    import copy

    from replicate.report import limitations, replication
    from replicate.report.view import Results

    root = Path(__file__).resolve().parents[1] / "reports"
    replicated = Results(json.loads((root / "mnist-replication/results.json").read_text(encoding="utf-8")))
    midtones = Results(json.loads((root / "mnist-midtones/results.json").read_text(encoding="utf-8")))
    rep = replication.replication(replicated)
    assert rep["summary"].startswith("10 comparisons with the post's 7 reported numbers (some compared under both "
                                     "optimizers): 9 within the fixed tolerance on the seeds' mean, 1 outside it")
    assert "here every run trained the post's number of optimizer steps, so each image is seen about 7.5 times" \
        in rep["data"]
    assert "did not train the post's number of optimizer steps, so no row is compared" in \
        replication.replication(midtones)["data"]
    short = copy.deepcopy(replicated.r)  # rows the analysis did not compare: their runs were short of the steps
    for row in short["replication"][1:]:
        row["status"] = "not run"
    assert ("the runs of 1 of the 10 rows trained the post's number of optimizer steps, and only those rows are "
            "compared") in replication.replication(Results(short))["data"]
    points = limitations.limitations(replicated)["points"]
    assert any("backends jax (18 runs), tensorflow (6 runs)." in p for p in points)
    assert any("backends jax (96 runs), tensorflow (16 runs)." in p  # 8 of the 16 screened out
               for p in limitations.limitations(midtones)["points"])
    (budget,) = [p for p in points if p.startswith("Training budget")]
    assert "convergence" not in budget  # 368 to 735 epochs against the tutorial's 50 and 100
