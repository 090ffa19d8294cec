"""Frozen, validated configuration and the profiles."""
import dataclasses
import json

import pytest

from replicate import config
from tests.runs import TINY


def test_config_is_frozen_and_validated():
    cfg = config.RunConfig(**TINY)
    with pytest.raises(AttributeError):
        cfg.epochs = 5
    with pytest.raises(ValueError, match="valid losss|valid loss"):
        config.RunConfig(**{**TINY, "loss": "bce_kl"})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        config.RunConfig(**{**TINY, "epochs": 0})
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()


def test_quick_profile_covers_the_comparison():
    quick = config.profile("quick")
    assert quick.dataset == "fashion_mnist" and len(quick.seeds) >= 3
    for model in (*config.POST, "sparse_rescaled", "vae_rescaled"):
        assert {(model, "bce"), (model, "mse")} <= set(quick.pairs)
    for model in ("simple", "conv"):
        assert {(model, loss) for loss in config.COMPARED_LOSSES} <= set(quick.pairs)
    assert ("simple", "bce_kl") not in quick.pairs


def test_models_chosen_keep_their_losses_and_a_model_the_profile_lacks_is_added_not_dropped():
    """`--models simple simple_8` on the quick profile: simple keeps its seven losses, and simple_8, which the
    profile does not train, gets the losses it trains every model with and simple's quick budget, not the post's."""
    quick = config.profile("quick")
    chosen = config.override(quick, models=["simple_8", "simple"])
    assert chosen.pairs == tuple((m, loss) for m, loss in quick.pairs if m == "simple") + (
        ("simple_8", "bce"), ("simple_8", "mse"))
    assert {(r.epochs, r.train_limit) for r in chosen.runs()} == {(config.QUICK_EPOCHS["simple"], 12000)}
    assert config.sweep_from_dict(json.loads(json.dumps(chosen.to_dict()))).runs() == chosen.runs()
    older = dataclasses.replace(chosen, epochs=quick.epochs, train_limit=quick.train_limit)  # a sweep.json of before
    assert {(r.epochs, r.train_limit) for r in older.runs() if r.model == "simple_8"} == {(50, None)}  # reads back
    assert config.override(quick, models=["simple_8"]).models == ("simple_8",)
    assert config.override(config.profile("replication"), models=["simple_8"]).pairs == (("simple_8", "bce"),)
    assert config.override(config.profile("smoke"), models=["sparse_rescaled"]).runs()[0].epochs == 40


@pytest.mark.parametrize("name", config.PROFILES)
def test_every_profile_is_a_valid_sweep_that_survives_its_json(name):
    sweep = config.profile(name)
    assert config.sweep_from_dict(json.loads(json.dumps(sweep.to_dict()))) == sweep
    assert sweep.runs() and all(r.backend in config.BACKENDS for r in sweep.runs())


def test_standard_profile_has_the_seeds_for_its_primary_endpoint():
    standard = config.profile("standard")
    assert len(standard.seeds) >= 8 and standard.endpoint == "rmse_midtone" and standard.patience
    assert {("sparse_rescaled", "mse"), ("vae_rescaled", "mse"), ("denoising", "bce")} <= set(standard.pairs)


def test_replication_budget_is_the_posts_optimizer_steps():
    """simple: 50 epochs x ceil(60000/256) = 235 steps = 11,750 steps; on 8,004 images ceil(8004/256) = 32 steps
    per epoch, so 368 epochs. conv: 50 x 469 = 23,450 steps; 63 per epoch, so 373 epochs."""
    assert config.step_budget_epochs("simple", "mnist10k") == 368
    assert config.step_budget_epochs("conv_adadelta", "mnist10k") == 373
    assert config.step_budget_epochs("deep", "mnist") == 100
    rep = config.profile("replication")
    assert rep.dataset == "mnist10k" and set(rep.losses) == {"bce"} and rep.patience is None
    assert {r.optimizer for r in rep.runs() if r.model.endswith("_adadelta")} == {"adadelta"}
    assert {r.learning_rate for r in rep.runs() if r.model.endswith("_adadelta")} == {1.0}


def test_auto_backend_puts_dense_models_on_jax_and_convolutions_on_tensorflow():
    assert config.backend_for("simple") == "jax" and config.backend_for("vae_rescaled") == "jax"
    assert config.backend_for("conv") == config.backend_for("denoising") == "tensorflow"
    assert config.backend_for("conv", "jax") == "jax"


@pytest.mark.parametrize("change,message", [
    ({"endpoint": "psnr"}, "unknown endpoint 'psnr'"),
    ({"margin": 0.0}, "equivalence margin, relative to MSE's mean, must be a fraction"),
    ({"margin": -0.1}, "equivalence margin, relative to MSE's mean, must be a fraction"),
    ({"min_improvement": 1.0}, "min_improvement must be a fraction in \\(0, 1\\), e.g. 0.01 for 1 %; got 1.0"),
    ({"min_improvement": None}, "min_improvement must be a fraction"),
    ({"patience": 0}, "patience must be a positive integer, got 0"),
    ({"backend": "torch"}, "unknown backend 'torch'"),
    ({"pairs": (("sparse_rescaled", "mae"),)}, "has no curvature at mid-grey"),
    ({"seeds": (True,)}, "seeds must be distinct non-negative integers"),
    ({"seeds": (0.5, 1)}, "seeds must be distinct non-negative integers"),
    ({"seeds": ("a",)}, "seeds must be distinct non-negative integers"),
    ({"seeds": ()}, "seeds must be distinct non-negative integers"),
])
def test_bad_sweep_settings_are_refused(change, message):
    import dataclasses

    with pytest.raises(ValueError, match=message):
        dataclasses.replace(config.profile("smoke"), **change)


def test_seeds_given_as_a_list_are_kept_as_the_tuple_a_sweep_json_reads_back():
    import dataclasses

    sweep = dataclasses.replace(config.profile("smoke"), seeds=[0, 1])
    assert sweep.seeds == (0, 1) and sweep == config.sweep_from_dict(sweep.to_dict())
