"""Frozen, validated configuration and the profiles."""
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
    for model in config.MODELS:
        assert {(model, "bce"), (model, "mse")} <= set(quick.pairs)
    for model in ("simple", "conv"):
        assert {(model, loss) for loss in config.TRAINED_LOSSES} <= set(quick.pairs)
    assert ("simple", "bce_kl") not in quick.pairs
