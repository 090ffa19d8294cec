"""Tests of ``replicate.analysis`` on tiny fake sweeps: statistics, verdict, idempotence, missing runs, files."""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from replicate import analysis, convergence
from replicate.report.reproduce import reproduce
from replicate.report.view import Results
from tests.fake_sweep import write_fake_sweep


#: Runs that name no process (trained before the ids): the provenance headline follows the records' order.
LEGACY = (set(), True)

def _results(path):
    def no_nan(name):
        raise AssertionError(f"non-strict JSON constant {name} in results.json")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_nan)


@pytest.fixture(scope="module")
def default_sweep(tmp_path_factory):
    """BCE midtones pulled harder toward a blur than MSE's; mae has one failed and one never-run seed."""
    root = write_fake_sweep(tmp_path_factory.mktemp("sweep"), losses=("bce", "mse", "mae"),
                            failed=[("simple", "mae", 1)], missing=[("simple", "mae", 2)])
    return root, analysis.evaluate_sweep(root)


def _verdict(results, model="simple"):
    (row,) = [v for v in results["verdicts"] if v["model"] == model]
    return row


def test_t_interval_matches_hand_computed_example():
    """Values (1, 2, 3, 4): mean 2.5, std sqrt(5/3), half-width t_{0.975,3} * std / 2 = 3.1824463 * 0.6454972
    = 2.0542603 (t quantile from standard tables), so the 95% CI is [0.4457397, 4.5542603]."""
    out = analysis.t_interval([1, 2, 3, 4])
    assert out["n"] == 4 and out["mean"] == 2.5
    assert out["std"] == pytest.approx(math.sqrt(5 / 3), rel=1e-12)
    assert out["ci95"] == pytest.approx([0.4457397, 4.5542603], abs=1e-7)


def test_t_interval_needs_two_values_for_a_spread():
    assert analysis.t_interval([0.3]) == {"n": 1, "mean": 0.3, "std": None, "ci95": None}
    assert analysis.t_interval([np.nan])["mean"] is None


def test_paired_test_p_value_matches_scipy_and_handles_zero_spread():
    d = [0.1, 0.3, -0.05, 0.2, 0.15]
    out = analysis.paired_test(d)
    assert out["p_value"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue, rel=1e-10)
    assert out["d_z"] == pytest.approx(np.mean(d) / np.std(d, ddof=1))
    assert analysis.paired_test([0.2, 0.2])["p_value"] == 0.0
    assert analysis.paired_test([0.0, 0.0])["p_value"] == 1.0
    assert analysis.paired_test([0.2])["p_value"] is None


def test_wilcoxon_drops_zero_differences():
    out = analysis.wilcoxon_test([0.0, 1.0, 2.0, 3.0, np.nan])
    assert out["n"] == 3 and out["median"] == 1.5
    assert out["p_value"] == pytest.approx(stats.wilcoxon([1.0, 2.0, 3.0]).pvalue)
    assert analysis.wilcoxon_test([0.0, 0.0])["p_value"] == 1.0


def test_holm_and_tost_match_their_worked_examples():
    """Holm: (0.01, 0.04, 0.03) -> (0.03, 0.06, 0.06) (sorted, times 3, 2, 1, running maximum). TOST of (1, 2, 3, 4)
    with margin 5: se = sqrt(5/3)/2; p_lower = t.sf(7.5/se, 3), p_upper = t.cdf(-2.5/se, 3) (scipy's t)."""
    assert analysis.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert analysis.holm([0.2, None, 0.01]) == pytest.approx([0.2, None, 0.02])
    se = math.sqrt(5 / 3) / 2
    out = analysis.tost([1, 2, 3, 4], 5)
    assert out["p_lower"] == pytest.approx(stats.t.sf(7.5 / se, 3)) and out["p_upper"] == pytest.approx(
        stats.t.cdf(-2.5 / se, 3))
    assert out["p_value"] == pytest.approx(0.015233, abs=1e-6)
    assert analysis.tost([1, 2, 3, 4], 1)["p_value"] > 0.5  # the mean 2.5 lies outside +-1
    with pytest.raises(ValueError, match="margin must be positive"):
        analysis.tost([1, 2], 0)


def test_non_finite_values_give_no_statistic():
    """A NaN p-value is left out of Holm's family (it does not reorder the others); an infinite difference gives
    no interval, p-value or equivalence test rather than a confident one."""
    assert analysis.holm([0.04, float("nan"), 0.01, 0.03]) == pytest.approx([0.06, None, 0.03, 0.06])
    inf = analysis.paired_test([math.inf, 1.0, 2.0])
    assert inf["mean"] is None and inf["ci95"] is None and inf["p_value"] is None and not inf["excludes_zero"]
    assert analysis.tost([math.inf, 1.0, 2.0], 0.5)["p_value"] is None


def test_schema_and_strict_json(default_sweep):
    _, path = default_sweep
    r = _results(path)
    assert r["schema_version"] == 4
    assert list(r) == ["schema_version", "sweep", "methods", "runs", "screened", "missing", "sensitivity",
                       "aggregates", "comparisons", "verdicts", "answer", "groups", "theory", "data", "theory_checks",
                       "mechanism", "convergence", "penalties", "replication", "recommendation", "gallery"]
    assert r["sweep"]["provenance"]["git"]["dirty"] is False
    run = r["runs"][0]
    assert run["training"]["epochs"] == 3 and set(run) == set(analysis.runs.RECORD_KEYS)
    (curve,) = [c for c in r["convergence"] if (c["model"], c["loss"]) == (run["model"], run["loss"])]
    assert curve["learning_curve"]["epoch"] == [1, 2, 3]
    assert set(r["aggregates"][0]["bands"]) == {"zero", "dark", "shadow", "midtone", "light", "highlight", "one"}
    assert run["screen"]["verdict"] == "usable"


def test_verdict_bce_worse_when_bce_midtones_are_pulled_harder(default_sweep):
    v = _verdict(_results(default_sweep[1]))
    assert (v["status"], v["textbook"]) == ("worse", "agrees") and v["role"] == "primary"
    assert v["difference"]["ci95"][0] > 0 and v["n_seeds"] == 3 and v["p_holm"] < 0.05
    assert v["endpoint"] == "rmse_midtone" and v["margin"]["relative"] == 0.02


def test_verdict_flips_when_mse_midtones_are_pulled_harder(tmp_path):
    root = write_fake_sweep(tmp_path, midtone_pull={"bce": 0.1, "mse": 0.5})
    v = _verdict(_results(analysis.evaluate_sweep(root)))
    assert (v["status"], v["textbook"]) == ("better", "disagrees")
    assert v["difference"]["ci95"][1] < 0


def test_equal_pulls_give_equivalence_not_no_difference(tmp_path):
    """Same midtone pull for BCE and MSE: the TOST shows equivalence within the margin (a wide margin here, so that
    three seeds of this fake noise suffice); with a margin far below the noise, the verdict is inconclusive."""
    root = write_fake_sweep(tmp_path / "a", midtone_pull={"bce": 0.3, "mse": 0.3}, seeds=tuple(range(6)),
                            config_extra={"margin": 0.2})
    v = _verdict(_results(analysis.evaluate_sweep(root)))
    assert v["status"] == "equivalent" and v["tost_p_holm"] < 0.05
    root = write_fake_sweep(tmp_path / "b", midtone_pull={"bce": 0.3, "mse": 0.3}, seeds=(0, 1, 2),
                            config_extra={"margin": 0.0001})
    assert _verdict(_results(analysis.evaluate_sweep(root)))["status"] == "inconclusive"


def test_holm_corrects_across_the_models_that_count(tmp_path):
    root = write_fake_sweep(tmp_path, models=("simple", "conv", "sparse", "sparse_rescaled"))
    r = _results(analysis.evaluate_sweep(root))
    primary = [v for v in r["verdicts"] if v["role"] == "primary"]
    assert {v["model"] for v in primary} == {"simple", "conv", "sparse_rescaled"}
    assert _verdict(r, "sparse")["role"] == "sensitivity" and "p_holm" not in _verdict(r, "sparse")
    raw = [v["difference"]["p_value"] for v in primary]
    assert [v["p_holm"] for v in primary] == pytest.approx(analysis.holm(raw))
    assert r["answer"]["rated"] == 3


def test_verdict_with_one_seed_says_insufficient_seeds(tmp_path):
    root = write_fake_sweep(tmp_path, seeds=(0,))
    r = _results(analysis.evaluate_sweep(root))
    v = _verdict(r)
    assert v["status"] == "insufficient seeds" and v["difference"]["ci95"] is None
    assert r["aggregates"][0]["metrics"]["ssim"]["ci95"] is None and r["answer"]["word"] == "none"


def test_verdict_without_mse_is_not_available(tmp_path):
    root = write_fake_sweep(tmp_path, losses=("bce", "mae"))
    v = _verdict(_results(analysis.evaluate_sweep(root)))
    assert v["status"] == "not available" and v["lacking"] == ["mse"]


def test_failed_and_missing_runs_are_listed_and_the_rest_is_computed(default_sweep):
    r = _results(default_sweep[1])
    missing = {(m["loss"], m["seed"]): (m["status"], m["reason"]) for m in r["missing"]}
    assert missing == {("mae", 1): ("failed", "simulated failure"),
                       ("mae", 2): ("pending", "no status.json: not run, or interrupted")}
    assert len(r["runs"]) == 7
    (mae_ssim,) = [c for c in r["comparisons"] if c["loss"] == "mae" and c["metric"] == "ssim"]
    assert mae_ssim["seeds"] == [0] and mae_ssim["seed_level"]["ci95"] is None


def test_a_collapsed_run_is_screened_out_listed_and_shown_in_a_sensitivity_note(tmp_path):
    """A run whose output is a constant (as a dead conv/MAE run's is) is not averaged in, but listed with its reason,
    and the sensitivity block says what its group's number would be with it."""
    root = write_fake_sweep(tmp_path, losses=("bce", "mse"), seeds=(0, 1, 2, 3), constant=[("simple", "mse", 1)])
    r = _results(analysis.evaluate_sweep(root))
    (screened,) = r["screened"]
    assert (screened["loss"], screened["seed"], screened["screen"]["verdict"]) == ("mse", 1, "collapsed")
    assert any("near-constant output" in reason for reason in screened["screen"]["reasons"])
    assert all(not (x["loss"] == "mse" and x["seed"] == 1) for x in r["runs"]) and len(r["runs"]) == 7
    (mse,) = [a for a in r["aggregates"] if a["loss"] == "mse"]
    assert mse["seeds"] == [0, 2, 3]
    (sens,) = r["sensitivity"]
    assert sens["screened_seeds"] == [1] and sens["with"]["n"] == 4 and sens["without"]["n"] == 3
    assert sens["with"]["mean"] > sens["without"]["mean"]


def test_screening_thresholds():
    """Near-constant output, and output no better than the targets' mean image (which ignores the input), are
    caught; a good reconstruction is not."""
    rng = np.random.default_rng(0)
    a = np.clip(rng.random((1, 28, 28)) + rng.normal(0, 0.3, (20, 28, 28)), 0, 1)  # images that share a mean
    assert analysis.screen(a + rng.normal(0, 0.05, a.shape), a)["verdict"] == "usable"
    assert analysis.screen(np.full_like(a, 0.004), a)["verdict"] == "collapsed"
    assert analysis.screen(np.full_like(a, a.mean()), a)["verdict"] == "collapsed"  # constant at the best value
    assert analysis.screen(rng.random(a.shape), a)["verdict"] == "collapsed"  # unrelated to the input
    mean_image = np.broadcast_to(a.mean(axis=0), a.shape)  # varied pixels, but the same output for every input
    assert analysis.screen(mean_image, a)["verdict"] == "collapsed"
    assert analysis.screen(mean_image, a)["mse_to_constant"] == pytest.approx(1.0)
    assert analysis.screen(mean_image, a)["output_std_ratio"] > 0.5
    assert analysis.screen(np.full_like(a, np.nan), a)["verdict"] == "diverged"


@pytest.mark.parametrize("stopped,advice", [
    ("epoch cap", "1 collapsed at their epoch cap: more --epochs, into a new folder, may train them."),
    ("converged", "1 diverged, or collapsed before their cap: with these settings they would end the same way"),
])
def test_a_sweep_with_no_usable_run_is_refused_without_touching_results(tmp_path, stopped, advice):
    """A run that collapsed at its cap may train with more epochs; one that collapsed before it stops there again."""
    from replicate.fileio import read_json, write_json

    root = write_fake_sweep(tmp_path, losses=("bce",), seeds=(0,), constant=[("simple", "bce", 0)])
    status = root / "fashion_mnist/simple/bce/seed0/status.json"
    write_json(status, {**read_json(status), "stopped": stopped})
    (root / "results.json").write_text('{"keep": true}', encoding="utf-8")
    with pytest.raises(analysis.ArtifactError, match="no run of .* is usable .*1 screened") as caught:
        analysis.evaluate_sweep(root)
    assert advice in str(caught.value) and ("more --epochs" in str(caught.value)) == (stopped == "epoch cap")
    assert json.loads((root / "results.json").read_text()) == {"keep": True}


@pytest.mark.parametrize("state,advice", [
    ("incomplete", "delete this run's folder and run the sweep's command again"),
    ("failed", "The sweep's command trains the pending and failed runs again"),
])
def test_a_sweep_with_no_usable_run_names_a_run_and_its_own_remedy(tmp_path, state, advice):
    """Rerunning skips a run whose status says done, so the advice for one whose files are gone is not a rerun."""
    root = write_fake_sweep(tmp_path, losses=("bce", "mse"), seeds=(0,), failed=[("simple", "mse", 0)])
    if state == "incomplete":
        (root / "fashion_mnist/simple/bce/seed0/reconstructions.npz").unlink()
    else:
        shutil.rmtree(root / "fashion_mnist/simple/bce/seed0")
    with pytest.raises(analysis.ArtifactError) as caught:
        analysis.evaluate_sweep(root)
    text = str(caught.value)  # one example of each kind of run, each with its own remedy
    assert advice in text and "fashion_mnist/simple/mse/seed0 (failed): simulated failure." in text
    assert "The sweep's command trains the pending and failed runs again." in text
    if state == "incomplete":
        assert "fashion_mnist/simple/bce/seed0 (incomplete): status says done" in text


def test_evaluate_sweep_is_idempotent_and_caches_metrics(default_sweep):
    root, path = default_sweep
    first_json, first_csv = path.read_bytes(), (root / "results.csv").read_bytes()
    cache = root / "fashion_mnist/simple/bce/seed0/metrics.npz"
    cached_at = cache.stat().st_mtime_ns
    analysis.evaluate_sweep(root)
    assert path.read_bytes() == first_json and (root / "results.csv").read_bytes() == first_csv
    assert cache.stat().st_mtime_ns == cached_at  # reused, not recomputed
    analysis.evaluate_sweep(root, force=True)
    assert path.read_bytes() == first_json


def test_stale_cache_is_recomputed(tmp_path):
    root = write_fake_sweep(tmp_path, seeds=(0, 1))
    analysis.evaluate_sweep(root)
    run = root / "fashion_mnist/simple/mse/seed0"
    later = (run / "metrics.npz").stat().st_mtime_ns + 10**9
    os.utime(run / "reconstructions.npz", ns=(later, later))
    analysis.evaluate_sweep(root)
    assert (run / "metrics.npz").stat().st_mtime_ns > later - 10**9


def test_results_csv_parses(default_sweep):
    root, _ = default_sweep
    with open(root / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dataset", "model", "loss", "seed", "metric", "value"]
    metrics_per_run = {r["metric"] for r in rows}
    assert {"ssim", "rmse_midtone", "final_val_loss", "band_midtone_rmse"} <= metrics_per_run
    assert len(rows) == 7 * len(metrics_per_run)
    values = [float(r["value"]) for r in rows]
    assert all(math.isfinite(v) for v in values)


def _simple_rows(results):
    return {(r["model"], r["reported"]["value"]): r for r in results["replication"] if r["reported"]["model"] == "simple"}


def test_replication_status_follows_protocol_and_tolerance(tmp_path):
    """The current post's adam number (0.09) is set beside 'simple', the 2016 adadelta number (0.11) beside
    'simple_adadelta'; within 0.01 replicated, beyond it not, and a model the sweep lacks is not run."""
    root = write_fake_sweep(tmp_path / "a", dataset="mnist10k", profile="replication", losses=("bce",),
                            models=("simple", "simple_adadelta"), epochs=368, config_extra={"train_limit": None},
                            final_val_loss={"simple/bce": 0.092, "simple_adadelta/bce": 0.14})
    rows = _simple_rows(_results(analysis.evaluate_sweep(root)))
    assert rows[("simple", 0.09)]["status"] == "replicated"
    assert rows[("simple", 0.09)]["difference"] == pytest.approx(0.002, abs=0.002)
    assert rows[("simple_adadelta", 0.11)]["status"] == "not replicated"
    deep = [r for r in _results(root / "results.json")["replication"] if r["model"] == "deep"]
    assert deep and all(r["status"] == "not run" for r in deep)


def test_a_replication_sweep_short_of_the_posts_steps_is_not_compared(tmp_path):
    """The post's 50 epochs on the 8,004 digits are 1,600 of its 11,750 steps (a tutorial-profile sweep, say)."""
    root = write_fake_sweep(tmp_path, dataset="mnist10k", profile="tutorial", losses=("bce",), models=("simple",),
                            epochs=50, config_extra={"train_limit": None}, final_val_loss={"simple/bce": 0.092})
    row = _simple_rows(_results(analysis.evaluate_sweep(root)))[("simple", 0.09)]
    assert row["status"] == "not run" and row["measured"] and row["difference"] is None
    assert "did not all train the post's 11,750 optimizer steps (368 epochs of every training image here)" in row["why"]


def test_replication_outside_the_posts_protocol(default_sweep):
    rows = _simple_rows(_results(default_sweep[1]))
    row = rows[("simple", 0.09)]
    assert row["status"] == "not run" and row["protocol_used"]["profile"] == "quick" and row["measured"]["n"] == 3
    assert "not the post's protocol" in row["why"]


def test_theory_checks_per_extreme_group_and_no_prediction_for_mae(default_sweep):
    checks = _results(default_sweep[1])["theory_checks"]
    assert {c["group"] for c in checks} == {"zero", "open_extreme", "one"}
    mae = [c for c in checks if c["loss"] == "mae"]
    assert mae and all(c["outcome"] == "no prediction" and "MAE" in c["why"] for c in mae)
    mse_open = next(c for c in checks if c["loss"] == "mse" and c["group"] == "open_extreme")
    assert mse_open["weight"] == pytest.approx(1.0) and mse_open["baseline_weight"] > 1
    assert mse_open["expect"] == "smaller ratio than BCE"


def test_data_shares_are_those_of_the_scored_targets(default_sweep):
    """results.json's band shares are computed from the sweep's targets.npz, counted here pixel by pixel."""
    root, path = default_sweep
    targets = np.load(root / "fashion_mnist" / "targets.npz")["images"]
    data = _results(path)["data"]["fashion_mnist"]
    assert data["images"] == len(targets)
    a = targets.astype(np.float64) / 255
    assert data["band_fraction"]["midtone"] == pytest.approx(np.mean((a > 0.3) & (a <= 0.7)), rel=1e-12)
    assert data["band_fraction"]["zero"] == pytest.approx(np.mean(a == 0), rel=1e-12)
    assert sum(data["band_fraction"].values()) == pytest.approx(1, rel=1e-12)


@pytest.mark.parametrize("cause,pull", [
    ("the weighting accounts for the gap", {"bce": 0.5, "mse_bce_weight": 0.5, "mse": 0.2, "bce_mse_weight": 0.2}),
    ("the gradient shape accounts for the gap", {"bce": 0.5, "bce_mse_weight": 0.5, "mse": 0.2, "mse_bce_weight": 0.2}),
    ("opposing causes", {"bce": 0.5, "mse": 0.4, "bce_mse_weight": 0.1, "mse_bce_weight": 0.8}),
])
def test_factorial_effects_are_the_stated_contrasts(tmp_path, cause, pull):
    """weighting = ((BCE - BCE.w_MSE) + (MSE.w_BCE - MSE)) / 2 and saturation = ((BCE - MSE.w_BCE) + (BCE.w_MSE -
    MSE)) / 2 per seed, so the gap is their sum; a gap made by either factor alone is credited to that factor."""
    losses = ("bce", "mse", "mse_bce_weight", "bce_mse_weight")
    root = write_fake_sweep(tmp_path, losses=losses, midtone_pull=pull, seeds=(0, 1, 2, 3))
    r = _results(analysis.evaluate_sweep(root))
    (f,) = r["mechanism"]["factorial"]
    by = {(x["loss"], x["seed"]): x["metrics"]["rmse_midtone"] for x in r["runs"]}
    weighting = [((by["bce", s] - by["bce_mse_weight", s]) + (by["mse_bce_weight", s] - by["mse", s])) / 2
                 for s in range(4)]
    saturation = [((by["bce", s] - by["mse_bce_weight", s]) + (by["bce_mse_weight", s] - by["mse", s])) / 2
                  for s in range(4)]
    effects = f["effects"]["rmse_midtone"]
    assert effects["weighting"]["mean"] == pytest.approx(np.mean(weighting))
    assert effects["saturation"]["mean"] == pytest.approx(np.mean(saturation))
    simple = {"weighting": [[by["bce", s] - by["bce_mse_weight", s] for s in range(4)],
                            [by["mse_bce_weight", s] - by["mse", s] for s in range(4)]],
              "saturation": [[by["bce", s] - by["mse_bce_weight", s] for s in range(4)],
                             [by["bce_mse_weight", s] - by["mse", s] for s in range(4)]]}
    for name, pair in simple.items():  # each factor's effect at the two levels of the other; their mean is its own
        assert [e["mean"] for e in effects["simple"][name]] == pytest.approx([np.mean(v) for v in pair])
        assert np.mean([e["mean"] for e in effects["simple"][name]]) == pytest.approx(effects[name]["mean"])
        assert effects["simple"][name][0]["mean"] - effects["simple"][name][1]["mean"] == pytest.approx(
            effects["interaction"]["mean"])
    assert effects["gap"]["mean"] == pytest.approx(effects["weighting"]["mean"] + effects["saturation"]["mean"])
    assert effects["gap"]["excludes_zero"]
    assert f["conclusion"]["key"] == cause
    method = r["methods"]["factorial"]  # the definitions results.json states are the ones computed
    assert ("weighting = ((BCE - BCE with MSE's weighting) + (MSE with BCE's weighting - MSE)) / 2" in method and
            "saturation = ((BCE - MSE with BCE's weighting) + (BCE with MSE's weighting - MSE)) / 2" in method)


def test_capacity_variants_inform_the_mechanism_not_the_answer(tmp_path):
    """The code-size variants get no verdict (the answer rests on the post's models); the capacity table has each
    code size once (the post's simple, also code 32, is not counted twice) and a slope over log2(code size)."""
    models = ("simple", "simple_8", "simple_32", "simple_256")
    pull = {"simple_8/bce": 0.7, "simple_32/bce": 0.5, "simple_256/bce": 0.3}
    root = write_fake_sweep(tmp_path, models=models, midtone_pull=pull, seeds=(0, 1, 2, 3))
    r = _results(analysis.evaluate_sweep(root))
    assert [v["model"] for v in r["verdicts"]] == ["simple"]
    rows = r["mechanism"]["capacity"]["rows"]
    assert [row["code_size"] for row in rows] == [8, 32, 256] and all(row["gap"]["n"] == 4 for row in rows)
    trend = r["mechanism"]["capacity"]["trend"]
    assert trend["n"] == 12 and trend["slope"] < 0 and trend["excludes_zero"] and trend["conclusion"] == "as predicted"


@pytest.mark.parametrize("trend,conclusion", [
    ({"slope": None}, "too few runs"),
    ({"slope": -0.002, "excludes_zero": False}, "no trend shown"),
    ({"slope": -0.002, "excludes_zero": True}, "as predicted"),
    ({"slope": 0.0018, "excludes_zero": True}, "against the prediction"),
])
def test_the_capacity_prediction_is_judged_in_the_analysis(trend, conclusion):
    """A gap that grows as capacity shrinks (a negative slope per doubling of the code size) is what the weighting
    argument predicts; the report only words the conclusion."""
    from replicate.analysis import mechanism
    from replicate.report import tested

    assert mechanism.trend_conclusion(trend) == conclusion
    reference = Path(__file__).resolve().parents[1] / "reports/reference/results.json"
    rows = json.loads(reference.read_text(encoding="utf-8"))["mechanism"]["capacity"]["rows"]
    words = tested._capacity({"rows": rows, "trend": {"ci95": [-1.0, 1.0], **trend, "conclusion": conclusion}})["trend"]
    assert {"too few runs": "Too few runs", "no trend shown": "no trend is shown", "as predicted": "as the weighting",
            "against the prediction": "against the prediction"}[conclusion] in words


def test_a_results_file_without_the_trends_conclusion_is_judged_by_the_analysis_rule():
    """The committed reference predates the field: its slope, +0.0018 per doubling with a CI above 0, is against
    the prediction."""
    from replicate.report import tested

    reference = Path(__file__).resolve().parents[1] / "reports/reference/results.json"
    cap = json.loads(reference.read_text(encoding="utf-8"))["mechanism"]["capacity"]
    assert "conclusion" not in cap["trend"]
    assert "against the prediction, it is larger with more capacity" in tested._capacity(cap)["trend"]


def test_the_step_budget_is_matched_only_where_every_run_trained_the_posts_steps_on_every_image():
    from replicate import config
    from replicate.analysis.replication import step_budget_matched

    assert config.post_steps("simple") == 11750  # 50 epochs of 235 steps of 256 images
    assert config.step_budget_epochs("simple", "mnist10k") == 368 and config.step_budget_epochs("simple", "mnist") == 50
    everything = {"train_limit": None}
    assert step_budget_matched("simple", "mnist10k", everything, [368, 368])
    assert step_budget_matched("simple", "mnist", everything, [50])
    assert not step_budget_matched("simple", "mnist10k", everything, [368, 300])  # stopped early by the rule
    assert not step_budget_matched("simple", "mnist10k", everything, [1000])  # more epochs are not the post's
    assert not step_budget_matched("simple", "mnist10k", {"train_limit": {"simple": 4000}}, [368])
    assert not step_budget_matched("simple", "mnist10k", everything, [368, None])
    assert not step_budget_matched("simple", "mnist10k", everything, [])


def test_the_answer_names_the_models_without_a_verdict(tmp_path):
    root = write_fake_sweep(tmp_path, models=("simple", "deep"), failed=[("deep", "mse", s) for s in (0, 1, 2)])
    answer = _results(analysis.evaluate_sweep(root))["answer"]
    assert answer["word"] == "yes" and answer["rated"] == 1
    assert answer["unrated"] == [["fashion_mnist", "deep", "not available"]]


def test_an_equivalent_model_that_also_differs_says_so(tmp_path):
    """A small, consistent BCE deficit: inside a wide margin (TOST) and also significant (paired t)."""
    root = write_fake_sweep(tmp_path, midtone_pull={"bce": 0.25, "mse": 0.2}, seeds=tuple(range(6)),
                            config_extra={"margin": 0.5})
    (v,) = _results(analysis.evaluate_sweep(root))["verdicts"]
    assert v["status"] == "equivalent" and v["p_holm"] < 0.05
    assert v["difference_within_margin"] == "worse"


def test_theory_section_sits_beside_measured_curves(default_sweep):
    t = _results(default_sweep[1])["theory"]
    assert t["predicted_extreme_to_midtone_weight"]["mse"] == pytest.approx(1.0)
    assert t["predicted_extreme_to_midtone_weight"]["bce"] > 1
    assert len(t["measured"]["fashion_mnist/simple"]["bce"]["fine_rmse"]) == len(t["fine_centers"]) == 20
    assert t["relative_weight"]["bce"][49] == pytest.approx(1.0)  # a = 0.5
    assert t["worked_example"]["target"] == 0.2


def test_rejects_folder_without_sweep_json(tmp_path):
    with pytest.raises(ValueError, match="no sweep.json"):
        analysis.evaluate_sweep(tmp_path)


@pytest.mark.parametrize("damage,named", [
    (("status.json", "{}"), "status.json"),
    (("status.json", ""), "status.json"),
    (("history.json", "{}"), "history.json"),
    (("reconstructions.npz", b"PK\x03\x04 cut short"), "reconstructions.npz"),
    (("model.keras", b"PK\x03\x04 cut short"), "model.keras"),
])
def test_a_damaged_artifact_is_named_with_what_to_do(tmp_path, damage, named):
    """The run with the damaged file is listed as unreadable, its reason naming the file and the fix; the other
    runs are evaluated as usual."""
    root = write_fake_sweep(tmp_path, seeds=(0, 1, 2))
    name, content = damage
    path = root / "fashion_mnist/simple/mse/seed1" / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    r = _results(analysis.evaluate_sweep(root))
    (bad,) = [m for m in r["missing"] if m["seed"] == 1]
    assert bad["status"] == "unreadable" and named in bad["reason"] and "run the sweep's command" in bad["reason"]
    assert len(r["runs"]) == 5
    assert str(tmp_path) not in (root / "results.json").read_text(encoding="utf-8")  # the folder's name instead


def test_an_artifact_changed_after_training_is_caught_by_its_recorded_checksum(tmp_path):
    import zipfile

    from replicate.fileio import read_json, sha256, write_json

    root = write_fake_sweep(tmp_path, seeds=(0, 1))
    run = root / "fashion_mnist/simple/bce/seed0"
    with zipfile.ZipFile(run / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    status = read_json(run / "status.json")
    write_json(run / "status.json", {**status, "artifacts": {n: sha256(run / n) for n in
                                                              ("reconstructions.npz", "model.keras")}})
    assert _results(analysis.evaluate_sweep(root))["missing"] == []
    with zipfile.ZipFile(run / "model.keras", "a") as archive:
        archive.writestr("extra", "tampered")
    (bad,) = _results(analysis.evaluate_sweep(root))["missing"]
    assert "model.keras differs from the SHA-256 recorded" in bad["reason"]


def test_evaluate_reports_its_progress(tmp_path):
    root = write_fake_sweep(tmp_path, seeds=(0, 1))
    calls = []
    analysis.evaluate_sweep(root, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4)]


def test_a_damaged_metrics_cache_is_recomputed(default_sweep):
    root, path = default_sweep
    cache = root / "fashion_mnist/simple/bce/seed0/metrics.npz"
    before = path.read_bytes()
    cache.write_bytes(b"PK\x03\x04 not a cache")
    assert analysis.evaluate_sweep(root).read_bytes() == before


@pytest.mark.parametrize("file,content,message", [
    ("sweep.json", "{}", "lacks config, runs"),
    ("sweep.json", "", "cannot be read"),
    ("fashion_mnist/targets.npz", "PK\x03\x04", "targets.npz cannot be read"),
])
def test_a_damaged_sweep_file_stops_evaluate_without_touching_results(tmp_path, file, content, message):
    root = write_fake_sweep(tmp_path)
    good = analysis.evaluate_sweep(root).read_bytes()
    (root / file).write_text(content, encoding="utf-8")
    with pytest.raises(analysis.ArtifactError, match=message):
        analysis.evaluate_sweep(root)
    assert (root / "results.json").read_bytes() == good


@pytest.mark.parametrize("edit,message", [
    (lambda spec: spec["config"].update(endpoint="sharpness"), "unknown endpoint 'sharpness'"),
    (lambda spec: spec["config"].update(margin=0), "MSE's mean, must be a fraction in \\(0, 1\\).*got 0"),
    (lambda spec: spec["config"].update(margin=1.0), "MSE's mean, must be a fraction in \\(0, 1\\).*got 1.0"),
    (lambda spec: spec["config"].update(margin="0.02"), "margin, relative to MSE's mean, must be"),
    (lambda spec: spec["config"].update(min_improvement="1%"), "min_improvement must be a fraction in \\(0, 1\\)"),
    (lambda spec: spec["config"].update(min_improvement=0), "min_improvement must be a fraction.*got 0"),
    (lambda spec: spec["runs"][1].pop("seed"), "run entry 1 lacks a valid seed"),
    (lambda spec: spec["runs"][0].update(model=None, path=3), "run entry 0 lacks a valid model, path"),
])
def test_an_edited_sweep_index_is_refused_by_name(tmp_path, capsys, edit, message):
    """An endpoint, margin or run entry evaluate cannot honour: exit 2 naming it; results.json untouched."""
    from replicate import cli

    root = write_fake_sweep(tmp_path)
    good = analysis.evaluate_sweep(root).read_bytes()
    spec = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
    edit(spec)
    (root / "sweep.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(analysis.ArtifactError, match=message):
        analysis.evaluate_sweep(root)
    assert cli.main(["evaluate", str(root)]) == 2
    assert "sweep.json" in capsys.readouterr().err
    assert (root / "results.json").read_bytes() == good


def test_cli_evaluate_exits_2_on_a_damaged_sweep(tmp_path, capsys):
    from replicate import cli

    root = write_fake_sweep(tmp_path)
    (root / "sweep.json").write_text("{}", encoding="utf-8")
    assert cli.main(["evaluate", str(root)]) == 2
    assert "sweep.json (the sweep index) lacks config, runs" in capsys.readouterr().err


def test_metrics_computed_in_worker_processes_give_the_same_results(tmp_path, monkeypatch):
    """A sweep large enough has its runs' metrics computed in worker processes first; results.json is then
    byte-identical to computing them in this process, failed, pending, collapsed and damaged runs included."""
    from replicate.analysis import runs

    def sweep():  # the same folder both times: a damaged run's reason names its path
        shutil.rmtree(tmp_path / "sweep", ignore_errors=True)
        root = write_fake_sweep(tmp_path / "sweep", seeds=(0, 1, 2, 3), failed=[("simple", "mse", 1)],
                                missing=[("simple", "bce", 3)], constant=[("simple", "mse", 2)])
        (root / "fashion_mnist/simple/bce/seed2/model.keras").write_bytes(b"not a zip archive")
        return root

    monkeypatch.setattr(runs, "PARALLEL_FROM_IMAGES", 10**12)
    here = analysis.evaluate_sweep(sweep()).read_bytes()
    monkeypatch.setattr(runs, "PARALLEL_FROM_IMAGES", 0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})  # two workers, whatever this machine has
    scored_here = []
    monkeypatch.setattr(runs.metrics, "evaluate", lambda *a: scored_here.append(a))  # this process, not workers
    root = sweep()
    spec = json.loads((root / "sweep.json").read_text())
    targets = {"fashion_mnist": runs.load_targets(root / "fashion_mnist/targets.npz")}
    done = runs._compute_metrics_in_parallel(root, spec, targets, False, None)
    assert done == {f"fashion_mnist/simple/{loss}/seed{seed}" for loss, seed in
                    [("bce", 0), ("bce", 1), ("mse", 0), ("mse", 2), ("mse", 3)]}  # not failed, pending, damaged
    assert all((root / path / "metrics.npz").exists() for path in done)
    assert analysis.evaluate_sweep(root, force=True).read_bytes() == here
    assert scored_here == []  # every scoreable run was scored by the workers and read back from its cache


@pytest.mark.parametrize("extra,expected", [
    ({"fused": True, "shard": "1/1"}, {"losses trained": "side by side: the losses of one model and seed in one "
                                                         "model, on the same batches"}),
    ({"fused": False}, {"losses trained": "one after another, each in its own model"}),
    ({"numerics": {"XLA_FLAGS": "--a=true", "JAX_DEFAULT_MATMUL_PRECISION": "highest"}},
     {"numerics": "XLA_FLAGS=--a=true; JAX_DEFAULT_MATMUL_PRECISION=highest"}),
    ({"shard": "2/3"}, {"shard": "2/3"}),
    ({"seed_note": 7}, {"seed_note": "7"}),  # a field the report does not know is still shown, as it is
])
def test_the_reproduce_rows_say_in_words_how_the_losses_trained_and_under_which_numerics(extra, expected):
    prov = {"backend": "jax", "command": "replicate run", **extra}
    rows = {row["key"]: row["value"] for row in reproduce(Results({"sweep": {"provenance": prov}}))["rows"]}
    assert rows == {"backend": "jax", **expected}


def test_a_sweep_started_whole_and_finished_as_shards_names_every_process_and_where_they_differ(tmp_path):
    def record(shard, started, commit, backend="tensorflow", finished=None):
        return {"shard": shard, "started": started, "finished": finished, "backend": backend, "device": "CPU",
                "git": {"commit": commit, "dirty": False}, "versions": {"keras": "3.15.1"},
                "command": f"replicate run --profile quick --shard {shard} --no-report"}

    def write(name, content):
        (tmp_path / name).write_text(json.dumps(content))

    write("provenance.json", {**record("1/1", "2026-01-01T08:00:00", "b" * 40), "command": "replicate run"})
    for i, (started, backend) in enumerate([("2026-01-01T07:00:00", "jax"), ("2026-01-01T09:00:00", "tensorflow")],
                                           start=1):
        write(f"provenance-shard-{i}-of-2.json", record(f"{i}/2", started, "a" * 40, backend, f"2026-01-01T1{i}:00:00"))
    prov = analysis._provenance(tmp_path, None, LEGACY)
    assert [s["shard"] for s in prov["shards"]] == ["1/1", "1/2", "2/2"]
    assert prov["shard"] == "1/2" and prov["git"]["commit"] == "a" * 40  # the earliest started process's
    assert prov["command"] == "replicate run"  # the whole run's, not the earliest shard's
    assert prov["backend"] == "tensorflow and jax" and prov["finished"] == "2026-01-01T12:00:00"
    assert prov["differs"] == ["git"]
    rows = {row["key"]: row["value"] for row in reproduce(Results({"sweep": {"provenance": prov}}))["rows"]}
    assert rows["processes"].startswith("3: shard 1/1 from 2026-01-01T08:00:00 (did not finish), commit bbbbbbbbbbbb; "
                                        "shard 1/2 from 2026-01-01T07:00:00, commit aaaaaaaaaaaa;")
    assert rows["processes"].endswith("Above, versions, device, platform, numerics, how the losses trained, commit, "
                                      "data and start are those of the earliest started with the present settings "
                                      "(shard 1/2 from 2026-01-01T07:00:00), the backend lists every process's and "
                                      "the finish is the last one; each process's record is in results.json "
                                      "(sweep.provenance.shards).")
    assert rows["processes differ in"] == "git" and "shards" not in rows and "differs" not in rows
    (tmp_path / "provenance.json").unlink()
    write("provenance-shard-10-of-12.json", record("10/12", None, "a" * 40))  # no start recorded: not the earliest
    prov = analysis._provenance(tmp_path, None, LEGACY)
    assert [s["shard"] for s in prov["shards"]] == ["1/2", "2/2", "10/12"] and prov["shard"] == "1/2"
    assert prov["command"] == "replicate run --profile quick --no-report"  # the shard's, without --shard
    for name in ("provenance-shard-2-of-2.json", "provenance-shard-10-of-12.json"):
        (tmp_path / name).unlink()
    for i, (sha, path) in enumerate([("5" * 64, "a.gz"), ("5" * 64, "b.gz")], start=1):  # same images, elsewhere
        write(f"provenance-shard-{i}-of-2.json", {**record(f"{i}/2", f"2026-01-01T0{i}:00:00", "a" * 40),
                                                   "data": {"train": {"sha256": sha, "path": path}}})
    assert "differs" not in analysis._provenance(tmp_path, None, LEGACY)
    write("provenance-shard-2-of-2.json", {**record("2/2", "2026-01-01T02:00:00", "a" * 40),
                                           "data": {"train": {"sha256": "6" * 64, "path": "a.gz"}}})
    assert analysis._provenance(tmp_path, None, LEGACY)["differs"] == ["data"]  # other images
    (tmp_path / "provenance-shard-2-of-2.json").unlink()
    prov = analysis._provenance(tmp_path, None, LEGACY)  # one shard alone: still the whole sweep's command, and listed
    assert prov["command"] == "replicate run --profile quick --no-report" and len(prov["shards"]) == 1
    (tmp_path / "provenance-shard-1-of-2.json").unlink()
    write("provenance.json", record("1/1", "2026-01-01T08:00:00", "b" * 40))
    assert analysis._provenance(tmp_path, None, LEGACY) == record("1/1", "2026-01-01T08:00:00", "b" * 40)  # as it is
    assert analysis._without_shard("replicate run --shard=2/3 --out 'a b' --shards 3") == \
        "replicate run --out 'a b' --shards 3"


def test_a_sharded_sweeps_provenance_names_the_backends_of_every_shard(tmp_path):
    shards = [("jax", "10:00"), ("jax and tensorflow", "11:00"), ("tensorflow", "09:00")]
    for i, (backend, hour) in enumerate(shards, start=1):
        (tmp_path / f"provenance-shard-{i}-of-3.json").write_text(json.dumps(
            {"backend": backend, "device": "CPU", "shard": f"{i}/3", "finished": f"2026-01-01T{hour}:00"}))
    prov = analysis._provenance(tmp_path, None, LEGACY)
    assert prov["backend"] == "jax and tensorflow" and prov["device"] == "CPU"
    assert [s["shard"] for s in prov["shards"]] == ["1/3", "2/3", "3/3"] and prov["finished"] == "2026-01-01T11:00:00"


def test_learning_curves_are_settled_by_the_convergence_rules_measure_not_the_raw_drop():
    """BCE's floor is high, so its raw validation loss barely moves while its excess over the floor still falls:
    0.262 -> 0.261 is a 0.38 % raw drop but an 8.3 % improvement of the excess 0.012 -> 0.011 over the floor 0.25.
    The runs' own last improvements decide, so a run that stopped early does not cut the others' curves short."""
    from replicate.analysis import learning
    from replicate.report.limitations import _settling
    from replicate.report.view import Results

    def run(seed, val):
        gains = [g for g in convergence.improvements(val, 0.25) if g is not None]
        return {"dataset": "fashion_mnist", "model": "simple", "loss": "bce", "seed": seed,
                "history": {"val_loss": val, "loss": val}, "training": {"steps": 10 * len(val), "converged": False,
                "epochs": len(val), "floor": 0.25, "last_improvement": gains[-1]}}

    moving, early = run(0, [0.30, 0.262, 0.261]), run(1, [0.30, 0.2605])  # excess 0.05 -> 0.0105: 79 %
    (entry,) = learning.convergence([moving], {"min_improvement": 0.01})
    assert entry["last_epoch_drop"] == pytest.approx(0.001 / 0.262)  # descriptive; the old rule called this settled
    assert entry["last_improvement"]["mean"] == pytest.approx(1 / 12) and entry["settled"] is False
    (both,) = learning.convergence([moving, early], {})  # the mean curve stops at epoch 2; the runs do not
    assert both["last_improvement"]["mean"] == pytest.approx((1 / 12 + 0.0395 / 0.05) / 2)
    settled = run(0, [0.30, 0.262, 0.26195])
    (still,) = learning.convergence([settled], {"min_improvement": 0.01})
    assert still["last_improvement"]["mean"] == pytest.approx(0.05 / 12) and still["settled"] is True
    assert learning.convergence([settled], {"min_improvement": 0.002})[0]["settled"] is False

    def view(c, methods=None):
        return Results({"sweep": {}, "groups": [["fashion_mnist", "simple", "bce"]], "convergence": [c],
                        "methods": methods or analysis_methods()})

    def analysis_methods():
        from replicate.analysis.methods import methods
        return methods({"min_improvement": 0.01})

    assert ("still improved their validation loss's excess over the floor by 8.33 % (simple) on average (below 1 % "
            "counts as settled)") in _settling(view(entry))
    assert _settling(view(still)) == ("Learning curves: every model's BCE runs improved their validation loss's "
                                      "excess over the floor by less than 1 % in their last epoch, on average.")
    assert _settling(view(entry, {"settled_drop": 0.005})) is None  # a results.json judged by the raw drop


@pytest.mark.parametrize("cells,key,depends", [
    # (BCE, MSE, BCE with MSE's weighting, MSE with BCE's weighting) midtone RMSE, one row per seed offset
    ((0.30, 0.20, 0.10, 0.50), "opposing causes", []),  # weighting +0.2 and +0.3, gradient shape -0.2 and -0.1
    ((0.30, 0.15, 0.20, 0.05), "the gradient shape accounts for the gap", ["weighting"]),  # +0.1, -0.1; +0.25, +0.05
    ((0.30, 0.15, 0.05, 0.20), "the weighting accounts for the gap", ["gradient shape"]),  # +0.25, +0.05; +0.1, -0.1
    ((0.50, 0.40, 0.20, 0.30), "the causes interact", ["weighting", "gradient shape"]),  # +0.3, -0.1; +0.2, -0.2
    ((0.30, 0.30, 0.10, 0.20), "no gap to explain", []),  # both reverse, but there is no gap to explain
])
def test_a_factor_whose_effect_changes_sign_with_the_other_is_not_named_as_a_cause(cells, key, depends):
    """Each factor has two simple effects, one at each level of the other factor (weighting: BCE - BCE with MSE's
    weighting, and MSE with BCE's weighting - MSE); where both exclude 0 on opposite sides the factor has no
    direction of its own to credit with the gap."""
    from replicate.analysis import mechanism
    from replicate.report import tested
    from replicate.report.view import Results

    names = ("bce", "mse", "bce_mse_weight", "mse_bce_weight")
    jitter = (0.0, 0.004, -0.003, 0.001, -0.002)
    runs = [{"dataset": "fashion_mnist", "model": "simple", "loss": loss, "seed": seed,
             "metrics": {o: value + jitter[(seed + i) % 5] / 10 for o in mechanism.OUTCOMES},
             "training": {"converged": True}}
            for seed in range(5) for i, (loss, value) in enumerate(zip(names, cells))]
    (f,) = mechanism.factorial(runs)
    assert (f["conclusion"]["key"], f["conclusion"]["depends"]) == (key, depends)
    text = tested._factorial(Results({"sweep": {}, "runs": []}), f)["conclusion"]
    for name in ("weighting", "gradient shape"):
        assert (f"BCE's {name} is not named as a cause: its effect changes sign" in text) == (
            name in depends and key != "the causes interact")
    if depends == ["weighting"]:  # +0.1 under BCE's gradient, -0.1 under MSE's; no claim that it plays no part
        assert "changes sign with the gradient shape (+0.10 (95% CI" in text and "under MSE's gradient)." in text
        assert "the weighting's effect is not distinguishable from 0" not in text
        unresolved = {**f, "conclusion": {**f["conclusion"], "key": "not resolved at this budget"}}
        assert ": the gradient shape is not resolved at this number of seeds" in tested._factorial(
            Results({"sweep": {}, "runs": []}), unresolved)["conclusion"]
    if depends == ["gradient shape"]:  # +0.1 under BCE's weighting, -0.1 under MSE's
        assert "changes sign with the weighting (+0.10 (95% CI" in text and "under MSE's weighting)." in text
        assert text.index("under BCE's weighting") < text.index("under MSE's weighting")
        assert "the gradient shape's effect is not distinguishable from 0" not in text
    if key == "opposing causes" and not depends:
        assert "distinguishable" not in text
    assert ("neither cause accounts for BCE's midtone gap on its own" in text) == (key == "the causes interact")


def test_reasons_keep_their_text_when_evaluated_from_inside_the_folder_and_any_reason_is_text(tmp_path, monkeypatch):
    from replicate.fileio import read_json, write_json

    root = write_fake_sweep(tmp_path, seeds=(0, 1), failed=[("simple", "mse", 1)])
    status = root / "fashion_mnist/simple/mse/seed1/status.json"
    write_json(status, {**read_json(status), "reason": 5})  # hand-edited: not text
    (root / "fashion_mnist/simple/bce/seed1/status.json").write_text("{}")
    monkeypatch.chdir(root)
    r = _results(analysis.evaluate_sweep(Path(".")))
    reasons = {m["path"]: m["reason"] for m in r["missing"]}
    assert reasons["fashion_mnist/simple/mse/seed1"] == "5"
    assert "simple/bce/seed1/status.json (the run's status) lacks status" in reasons["fashion_mnist/simple/bce/seed1"]
    assert str(tmp_path) not in json.dumps(r)
    monkeypatch.chdir(tmp_path.parent.parent)  # a relative path of two folders: reduced to the folder's name
    r = _results(analysis.evaluate_sweep(Path(tmp_path.parent.name, tmp_path.name)))
    reason = {m["path"]: m["reason"] for m in r["missing"]}["fashion_mnist/simple/bce/seed1"]
    assert reason.startswith(f"{tmp_path.name}/fashion_mnist/simple/bce/seed1/status.json")


def test_the_headline_process_is_the_first_of_those_whose_runs_are_in_the_folder():
    """Each run's status.json names the process that trained it: the headline is the first of those."""
    def rec(started, settings=None, **extra):
        return {"started": started, **({"settings_sha256": settings} if settings else {}), **extra}

    whole, one, two = rec("01", "S1", process="w"), rec("02", "S2", process="s1"), rec("02", "S2", process="s2")
    # Started whole, finished as shards with other settings that replaced every run: the shards.
    assert analysis._present([[whole], [one], [two]], "S2", ({"s1", "s2"}, False)) == [one, two]
    # Other settings that replaced some runs only (another backend for one model, say): both.
    assert analysis._present([[whole, rec("03", "S2", process="b")]], "S2", ({"w", "b"}, False)) == [
        whole, rec("03", "S2", process="b")]
    # Runs from before the ids: their processes are found by order (with their own settings), after those named.
    old = rec("00", "S1")
    assert analysis._present([[old, whole]], "S1", ({"w"}, True)) == [whole, old]
    more = rec("03", "S2", process="p")  # more seeds, other settings: the runs of the process before the ids stay
    assert analysis._present([[old, more]], "S2", ({"p"}, True)) == [more, old]
    assert analysis._present([[old, whole]], "S1", ({"w", "lost"}, False)) == [whole]  # a record was lost
    assert analysis._present([[old, whole]], "S1", ({"lost"}, False)) == [old, whole]  # none left: every record
    tie = rec("05", "S2")  # the last record before the ids started in the same second as the one before it
    assert analysis._present([[rec("05", "S1"), tie, more]], "S2", ({"p"}, True)) == [more, tie]
    assert analysis._present([[{"started": "01", "process": ["x"]}]], "S1", ({"x"}, False))  # edited: no crash
    # Records from before the ids only: within a file the order decides, between files the start time.
    a1, b, a2, a3 = rec("01", "A"), rec("02", "B"), rec("03", "A"), rec("04", "A")
    assert analysis._present([[a1, b, a2, a3]], "A") == [a2, a3]  # B replaced a1's runs; a2's replaced B's
    assert analysis._present([[a1, b]], "B") == [b]
    assert analysis._present([[rec("05", "A"), rec("05", "B")]], "B") == [rec("05", "B")]  # the same second
    early, late = rec("05", "A", command="early"), rec("05", "A", command="late")
    assert analysis._present([[early, rec("05", "B"), late]], "A") == [late]
    assert analysis._present([[a1, rec("06", "A")], [rec("05", "B")]], "A") == [rec("06", "A")]
    # A shard's rerun with other settings replaced its own shard's runs; a whole run's, every file's.
    one, two_b, two_a = rec("01", "A", shard="1/2"), rec("02", "B", shard="2/2"), rec("03", "A", shard="2/2")
    assert analysis._present([[one], [two_b, two_a]], "A") == [one, two_a]
    assert analysis._present([[rec("03", "B")], [one]], "B") == [rec("03", "B")]
    legacy, new = rec("01"), rec("02", "A")  # a record from before the digest was kept, then a resume
    assert analysis._present([[legacy, new]], "A") == [new] and analysis._present([[legacy]], "A") == [legacy]
    assert analysis._present([[rec("01", "B")]], "A") == [rec("01", "B")]  # none fits: all


def test_shards_that_started_in_the_same_second_give_shard_1_as_the_headline(tmp_path):
    from replicate.fileio import write_json

    for k in (2, 10, 1):
        write_json(tmp_path / f"provenance-shard-{k}-of-12.json", {"started": "2026-12-05T08:00:00+00:00",
                                                                   "shard": f"{k}/12", "process": f"p{k}"})
    assert analysis._provenance(tmp_path, "A", ({"p2", "p10", "p1"}, False))["shard"] == "1/12"
    assert analysis._provenance(tmp_path, "A", ({"p2", "p10"}, False))["shard"] == "2/12"  # shard 1's runs are gone
