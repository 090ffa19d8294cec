"""Tests of ``replicate.analysis`` on tiny fake sweeps: statistics, verdict, idempotence, missing runs, files."""
from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest
from scipy import stats

from replicate import analysis
from tests.fake_sweep import write_fake_sweep


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


def test_schema_and_strict_json(default_sweep):
    _, path = default_sweep
    r = _results(path)
    assert r["schema_version"] == 2
    assert list(r) == ["schema_version", "sweep", "methods", "runs", "missing", "aggregates", "comparisons",
                       "verdicts", "theory", "replication", "groups", "answer", "theory_checks", "convergence",
                       "recommendation", "gallery"]
    assert r["sweep"]["provenance"]["git"]["dirty"] is False
    run = r["runs"][0]
    assert run["history"]["epoch"] == [1, 2, 3] and run["final"]["val_loss"] == run["history"]["val_loss"][-1]
    assert set(run["bands"]) == {"zero", "dark", "shadow", "midtone", "light", "highlight", "one"}


def test_verdict_bce_worse_when_bce_midtones_are_pulled_harder(default_sweep):
    v = _verdict(_results(default_sweep[1]))
    assert (v["status"], v["blur"], v["textbook"]) == ("worse", "blurrier", "agrees")
    assert v["rmse_midtone"]["ci95"][0] > 0 and v["n_seeds"] == 3
    assert "measurably worse" in v["sentence"] and "consistent with the textbook" in v["sentence"]


def test_verdict_flips_when_mse_midtones_are_pulled_harder(tmp_path):
    root = write_fake_sweep(tmp_path, midtone_pull={"bce": 0.1, "mse": 0.5})
    v = _verdict(_results(analysis.evaluate_sweep(root)))
    assert (v["status"], v["blur"], v["textbook"]) == ("better", "sharper", "disagrees")
    assert v["rmse_midtone"]["ci95"][1] < 0
    assert "disagree with the textbook" in v["sentence"]


def test_verdict_with_one_seed_says_insufficient_seeds(tmp_path):
    root = write_fake_sweep(tmp_path, seeds=(0,))
    r = _results(analysis.evaluate_sweep(root))
    v = _verdict(r)
    assert v["status"] == "insufficient seeds" and v["rmse_midtone"]["ci95"] is None
    assert "insufficient seeds" in v["sentence"]
    assert r["aggregates"][0]["metrics"]["ssim"]["ci95"] is None


def test_verdict_without_mse_is_not_available(tmp_path):
    root = write_fake_sweep(tmp_path, losses=("bce", "mae"))
    v = _verdict(_results(analysis.evaluate_sweep(root)))
    assert v["status"] == "not available" and "mse" in v["sentence"]


def test_failed_and_missing_runs_are_listed_and_the_rest_is_computed(default_sweep):
    r = _results(default_sweep[1])
    missing = {(m["loss"], m["seed"]): (m["status"], m["reason"]) for m in r["missing"]}
    assert missing == {("mae", 1): ("failed", "simulated failure"),
                       ("mae", 2): ("pending", "no status.json: not run or still running")}
    assert len(r["runs"]) == 7
    (mae_ssim,) = [c for c in r["comparisons"] if c["loss"] == "mae" and c["metric"] == "ssim"]
    assert mae_ssim["seeds"] == [0] and mae_ssim["seed_level"]["ci95"] is None


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


def test_replication_status_follows_protocol_and_tolerance(tmp_path):
    close = write_fake_sweep(tmp_path / "a", dataset="mnist", profile="tutorial", final_val_loss={"bce": 0.09})
    (row,) = _results(analysis.evaluate_sweep(close))["replication"]
    assert row["status"] == "reproduced within tolerance (±0.01 absolute)" and row["reported"]["value"] == 0.09
    far = write_fake_sweep(tmp_path / "b", dataset="mnist", profile="tutorial", final_val_loss={"bce": 0.2})
    assert _results(analysis.evaluate_sweep(far))["replication"][0]["status"] == "differs"


def test_replication_outside_tutorial_protocol(default_sweep):
    (row,) = _results(default_sweep[1])["replication"]
    assert row["status"] == "not run at the tutorial's protocol" and row["protocol_used"]["profile"] == "quick"


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
