"""``replicate compare``: identical results match, a changed number or verdict is flagged."""
import copy

from replicate import analysis, cli, compare, fileio
from tests.fake_sweep import write_fake_sweep


def results(tmp_path):
    return fileio.read_json(analysis.evaluate_sweep(write_fake_sweep(tmp_path / "sweep")))


def test_identical_results_match(tmp_path):
    r = results(tmp_path)
    assert compare.compare(r, copy.deepcopy(r)) == []


def test_changed_number_is_flagged_and_small_noise_is_not(tmp_path):
    r = results(tmp_path)
    changed = copy.deepcopy(r)
    changed["aggregates"][0]["metrics"]["ssim"]["mean"] += 0.02
    assert any("metrics.ssim" in line for line in compare.compare(r, changed))
    jitter = copy.deepcopy(r)
    jitter["aggregates"][0]["metrics"]["ssim"]["mean"] += 0.001
    assert compare.compare(r, jitter) == []


def test_final_losses_are_compared_per_pixel_also_where_they_are_summed_over_an_image(tmp_path):
    """0.005 nats per pixel: the VAE's losses are per image (784 pixels), so its tolerance is 784 times larger."""
    r = fileio.read_json(analysis.evaluate_sweep(write_fake_sweep(tmp_path / "sweep", models=("simple", "vae"))))
    groups = {g["model"]: i for i, g in enumerate(r["aggregates"]) if g["loss"] == "bce"}

    def moved(model: str, by: float) -> list[str]:
        changed = copy.deepcopy(r)
        changed["aggregates"][groups[model]]["final"]["val_loss"]["mean"] += by
        return compare.compare(r, changed)

    assert moved("vae", 3.9) == [] and moved("simple", 0.004) == []
    assert any("vae/bce final.val_loss" in line and "tolerance 3.92" in line for line in moved("vae", 4.0))
    assert any("simple/bce final.val_loss" in line for line in moved("simple", 0.006))


def test_changed_verdict_and_missing_group_are_flagged(tmp_path):
    r = results(tmp_path)
    changed = copy.deepcopy(r)
    changed["verdicts"][0]["status"] = "better"
    del changed["aggregates"][-1]
    lines = compare.compare(r, changed)
    assert any("verdict status" in line for line in lines) and any("only in first" in line for line in lines)


def test_other_pre_registration_seeds_or_answer_are_flagged(tmp_path):
    r = results(tmp_path)
    changed = copy.deepcopy(r)
    changed["sweep"]["config"]["margin"] = 0.05
    changed["aggregates"][0]["seeds"] = changed["aggregates"][0]["seeds"][:-1]
    changed["answer"]["word"] = "mixed"
    lines = compare.compare(r, changed)
    assert any("pre-registered margin differs" in line for line in lines)
    assert any("usable seeds" in line for line in lines) and any(line.startswith("answer:") for line in lines)


def test_cli_exit_status(tmp_path, capsys):
    path = analysis.evaluate_sweep(write_fake_sweep(tmp_path / "sweep"))
    assert cli.main(["compare", str(path), str(path)]) == 0
    changed = fileio.read_json(path)
    changed["aggregates"][0]["final"]["val_loss"]["mean"] += 1.0
    fileio.write_json(tmp_path / "other.json", changed)
    assert cli.main(["compare", str(path), str(tmp_path / "other.json")]) == 1
    assert "final.val_loss" in capsys.readouterr().out


def test_nothing_in_common_or_a_missing_number_never_matches(tmp_path):
    r = results(tmp_path)
    empty = {**copy.deepcopy(r), "aggregates": [], "verdicts": []}
    assert "no (dataset, model, loss) group in common" in compare.compare(empty, copy.deepcopy(empty))[0]
    nan = copy.deepcopy(r)
    nan["aggregates"][0]["metrics"]["ssim"]["mean"] = None  # NaN is written as null in results.json
    assert any("metrics.ssim: " in line and "None" in line for line in compare.compare(r, nan))
    assert any("metrics.ssim" in line for line in compare.compare(nan, r))


def test_malformed_input_exits_2_and_differences_exit_1(tmp_path, capsys):
    path = analysis.evaluate_sweep(write_fake_sweep(tmp_path / "sweep"))
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "garbage.json").write_text("not json")
    for bad in ("empty.json", "garbage.json"):
        assert cli.main(["compare", str(tmp_path / bad), str(path)]) == 2
        assert bad in capsys.readouterr().err
    (tmp_path / "none.json").write_text('{"schema_version": 3, "aggregates": []}')
    assert cli.main(["compare", str(tmp_path / "none.json"), str(tmp_path / "none.json")]) == 1
    assert "no (dataset, model, loss) group in common" in capsys.readouterr().out


def test_the_same_sweep_on_tensorflow_and_on_jax_matches_within_tolerances(tmp_path, capfd):
    """Same initial weights (drawn with numpy) and batches on both backends: only float rounding differs, so the
    two sweeps agree within compare's tolerances (JAX trains in a child process here)."""
    paths = []
    for backend in ("tensorflow", "jax"):
        out = tmp_path / backend
        code = cli.main(["run", "--profile", "smoke", "--models", "simple", "--losses", "bce", "mse", "--seeds", "2",
                         "--epochs", "25", "--backend", backend, "--out", str(out), "--no-report"])  # all usable
        assert code == 0 or cli.EXIT_FAILED_RUNS < code <= cli.EXIT_FAILED_RUNS + cli.MOST_COUNTED
        assert cli.main(["evaluate", str(out)]) == 0  # results.json alone: compare reads nothing else
        paths.append(out / "results.json")
    a, b = (fileio.read_json(p) for p in paths)
    assert {r["backend"] for r in a["runs"]} == {"tensorflow"} and {r["backend"] for r in b["runs"]} == {"jax"}
    assert compare.compare(a, b) == []
